"""The prediction log (SPEC §2): every served prediction, written behind the response.

``PredictionLogWriter.submit`` puts a row on a bounded queue and returns at once; a
background thread inserts rows in batches (one transaction each). The request never waits
for the database and never fails because of it: a full queue, or a batch that still fails
after its retries, drops rows and counts them (``dropped``, exported by ``/metrics``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from core.db.engine import Database
from core.db.models import PredictionLog, utcnow

log = logging.getLogger("adcluster.prediction_log")
COLUMNS = ("tenant_id", "kind", "ad_id", "model_version", "inputs", "output", "served_at")


def prediction_row(
    *,
    tenant_id: str,
    kind: str,
    ad_id: str | None,
    model_version: str,
    inputs: dict[str, Any],
    output: dict[str, Any],
    served_at: datetime | None = None,
) -> dict[str, Any]:
    """One row of ``prediction_log``."""
    return {
        "tenant_id": tenant_id,
        "kind": kind,
        "ad_id": ad_id,
        "model_version": model_version,
        "inputs": inputs,
        "output": output,
        "served_at": served_at or utcnow(),
    }


def insert_rows(db: Database, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` in one transaction."""
    with db.session() as s:
        s.execute(insert(PredictionLog), rows)


def recent(db: Database, tenant_id: str, kind: str, limit: int = 100) -> list[dict[str, Any]]:
    """The tenant's latest logged predictions of ``kind``, newest first."""
    with db.session() as s:
        rows = s.scalars(
            select(PredictionLog)
            .where(PredictionLog.tenant_id == tenant_id, PredictionLog.kind == kind)
            .order_by(PredictionLog.id.desc())
            .limit(limit)
        )
        return [{c: getattr(r, c) for c in ("id", *COLUMNS)} for r in rows]


class PredictionLogWriter:
    """Bounded queue + batching thread in front of ``prediction_log`` (one per process)."""

    def __init__(
        self,
        db: Database,
        *,
        queue_size: int,
        batch_size: int,
        flush_interval_s: float,
        max_retries: int,
    ) -> None:
        self.db = db
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_retries = max_retries
        self.written = 0
        self.dropped = 0
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def submit(self, row: dict[str, Any]) -> bool:
        """Queue ``row`` for writing; False (and counted as dropped) when the queue is full."""
        try:
            self._queue.put_nowait(row)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    @property
    def pending(self) -> int:
        """Rows accepted but not yet written or dropped."""
        return self._queue.unfinished_tasks

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every accepted row is written or dropped; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.pending == 0

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        self.flush(timeout_s)
        self._stop.set()
        self._thread.join(timeout=timeout_s)

    def _next_batch(self) -> list[dict[str, Any]]:
        try:
            batch = [self._queue.get(timeout=self.flush_interval_s)]
        except queue.Empty:
            return []
        while len(batch) < self.batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, batch: list[dict[str, Any]]) -> None:
        for attempt in range(self.max_retries + 1):
            try:
                insert_rows(self.db, batch)
                self.written += len(batch)
                return
            except Exception as exc:  # the database is down or refuses: retry, then drop
                if attempt == self.max_retries:
                    self.dropped += len(batch)
                    log.warning(
                        "prediction log batch dropped",
                        extra={"rows": len(batch), "error": type(exc).__name__},
                    )
                    return
                self._stop.wait(min(0.1 * 2**attempt, 2.0))

    def _run(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            batch = self._next_batch()
            if not batch:
                continue
            try:
                self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()
