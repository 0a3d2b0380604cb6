"""prediction_log rows: batched insert and tenant-scoped reads (SQLite and PostgreSQL)."""

from __future__ import annotations

from core.db.engine import Database
from core.db.prediction_log import insert_rows, prediction_row, recent


def row(i: int, tenant: str = "t1") -> dict:
    return prediction_row(
        tenant_id=tenant,
        kind="roas",
        ad_id=f"ad-{i}",
        model_version="rules-x",
        inputs={"current_ctr": 0.01 * i},
        output={"predicted_roas": 1.5},
    )


def test_batch_insert_and_tenant_scoped_reads(db: Database) -> None:
    insert_rows(db, [row(i) for i in range(120)] + [row(0, "t2")])
    latest = recent(db, "t1", "roas", limit=1)[0]
    assert latest["ad_id"] == "ad-119" and latest["inputs"] == {"current_ctr": 1.19}
    assert latest["served_at"].tzinfo is not None and latest["model_version"] == "rules-x"
    assert len(recent(db, "t1", "roas", limit=500)) == 120
    assert [r["ad_id"] for r in recent(db, "t2", "roas")] == ["ad-0"]
    assert recent(db, "t1", "ctr") == []
