"""prediction_log rows: batched insert and tenant-scoped reads (SQLite and PostgreSQL)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from core.db.engine import Database
from core.db.prediction_log import _sqlite_time, insert_rows, prediction_row, recent


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


def test_json_text_is_stored_as_json(db: Database) -> None:
    """The gateway passes inputs and output as JSON text: they read back as objects."""
    text_row = prediction_row(
        tenant_id="t3",
        kind="ctr",
        ad_id="ad-t",
        model_version="ctr-1",
        inputs='{"hook_text": "Why \\u00e9?", "video_features": [0.5, 1]}',
        output=b'{"predicted_ctr": 0.0312}',
    )
    insert_rows(db, [text_row, row(1, "t3") | {"kind": "ctr"}])
    rows = recent(db, "t3", "ctr")
    assert rows[1]["inputs"] == {"hook_text": "Why é?", "video_features": [0.5, 1]}
    assert rows[1]["output"] == {"predicted_ctr": 0.0312}
    assert rows[0]["inputs"] == {"current_ctr": 0.01}


def test_served_at_reads_back_exactly(db: Database) -> None:
    """Times go to the driver as they are (PostgreSQL) or as SQLAlchemy's SQLite text: an
    aware time in another zone, a naive UTC one, a whole second and epoch seconds (the
    gateway's rows) all read back equal."""
    from datetime import UTC, datetime, timedelta, timezone

    times = [
        datetime(2026, 11, 26, 13, 5, 7, 123456, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 11, 26, 11, 5, 8, 5),  # naive: UTC
        datetime(2026, 11, 26, 11, 5, 9, tzinfo=UTC),
        datetime(2026, 11, 26, 11, 5, 10, 250000, tzinfo=UTC).timestamp(),  # epoch seconds
    ]
    insert_rows(db, [row(i, "t4") | {"served_at": t} for i, t in enumerate(times)])
    got = [r["served_at"] for r in reversed(recent(db, "t4", "roas"))]
    assert got == [
        datetime(2026, 11, 26, 11, 5, 7, 123456, tzinfo=UTC),
        datetime(2026, 11, 26, 11, 5, 8, 5, tzinfo=UTC),
        datetime(2026, 11, 26, 11, 5, 9, tzinfo=UTC),
        datetime(2026, 11, 26, 11, 5, 10, 250000, tzinfo=UTC),
    ]


@settings(max_examples=2000, deadline=None)
@given(st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False))
def test_epoch_seconds_text_matches_datetime(value: float) -> None:
    """The cached-second conversion of epoch seconds gives exactly the text of
    ``datetime.fromtimestamp`` (its rounding included), which SQLite then stores."""
    from datetime import UTC, datetime

    expected = datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
    assert _sqlite_time(value) == expected.isoformat(sep=" ", timespec="microseconds")


def test_migration_0008_drops_the_tenant_only_index(db: Database) -> None:
    """Migration 0008 drops the tenant-only index (the lookup index leads with the tenant);
    downgrading puts it back, and the tenant's rows still read back after the round trip."""
    from sqlalchemy import inspect

    from core.db.migrate import downgrade, upgrade

    def names() -> set[str]:
        return {i["name"] for i in inspect(db.engine).get_indexes("prediction_log")}

    assert names() == {"ix_prediction_log_lookup", "ix_prediction_log_served_at"}
    downgrade(db, "0007_assets")
    assert "ix_prediction_log_tenant_id" in names()
    upgrade(db)
    assert "ix_prediction_log_tenant_id" not in names()
    insert_rows(db, [row(i, "t5") for i in range(3)])
    assert [r["ad_id"] for r in recent(db, "t5", "roas")] == ["ad-2", "ad-1", "ad-0"]
