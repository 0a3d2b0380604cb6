"""The prediction log writer: batched, bounded, never blocking, drops counted."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from core.db.engine import Database
from core.db.models import PredictionLog
from core.db.prediction_log import PredictionLogWriter, prediction_row, recent


def row(i: int, tenant: str = "t1") -> dict:
    return prediction_row(
        tenant_id=tenant,
        kind="roas",
        ad_id=f"ad-{i}",
        model_version="rules-x",
        inputs={"current_ctr": 0.01 * i},
        output={"predicted_roas": 1.5},
    )


def count(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(PredictionLog)) or 0


def test_rows_are_written_in_batches(db: Database) -> None:
    writer = PredictionLogWriter(
        db, queue_size=1000, batch_size=50, flush_interval_s=0.05, max_retries=1
    )
    try:
        assert all(writer.submit(row(i)) for i in range(120))
        assert writer.flush(10)
        assert writer.written == 120 and writer.dropped == 0 and count(db) == 120
        latest = recent(db, "t1", "roas", limit=1)[0]
        assert latest["ad_id"] == "ad-119" and latest["inputs"] == {"current_ctr": 1.19}
        assert latest["served_at"].tzinfo is not None
        assert recent(db, "t2", "roas") == []  # tenant-scoped
    finally:
        writer.close()


def test_a_full_queue_drops_and_counts_without_blocking(db: Database) -> None:
    gate = threading.Event()
    writer = PredictionLogWriter(
        db, queue_size=5, batch_size=1, flush_interval_s=0.05, max_retries=0
    )
    writer._write = lambda batch: gate.wait(10) and None  # type: ignore[method-assign]
    try:
        start = time.perf_counter()
        accepted = [writer.submit(row(i)) for i in range(50)]
        assert time.perf_counter() - start < 0.5  # submit never waits for the database
        assert accepted.count(True) <= 6 and writer.dropped == accepted.count(False) >= 44
    finally:
        gate.set()
        writer.close()


def test_database_down_drops_the_batch_after_retries(tmp_path) -> None:  # type: ignore[no-untyped-def]
    broken = Database(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    writer = PredictionLogWriter(
        broken, queue_size=100, batch_size=10, flush_interval_s=0.01, max_retries=2
    )
    try:
        for i in range(10):
            writer.submit(row(i))
        assert writer.flush(10)
        assert writer.dropped == 10 and writer.written == 0
    finally:
        writer.close()
        broken.dispose()


def test_close_writes_what_is_queued(db: Database) -> None:
    writer = PredictionLogWriter(
        db, queue_size=100, batch_size=100, flush_interval_s=5.0, max_retries=0
    )
    for i in range(7):
        writer.submit(row(i))
    writer.close(timeout_s=10)
    assert count(db) == 7 and writer.pending == 0
