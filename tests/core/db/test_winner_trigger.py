"""The winner trigger, on SQLite and on real PostgreSQL, by the same tests."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from core.db.engine import Database
from core.db.migrate import sync_winner_rule
from core.db.models import Ad, PendingJob, PerformanceMetric, utcnow
from core.domain.winner import WinnerRule


def add_ad(db: Database, ad_id: str, hours_ago: float) -> None:
    with db.session() as s:
        s.add(Ad(ad_id=ad_id, launched_at=utcnow() - timedelta(hours=hours_ago)))


def add_metrics(db: Database, ad_id: str, impressions: int, clicks: int, roas: float = 0.0) -> int:
    with db.session() as s:
        row = PerformanceMetric(
            ad_id=ad_id,
            impressions=impressions,
            clicks=clicks,
            ctr=clicks / impressions if impressions else 0.0,
            roas=roas,
            observed_at=utcnow(),
        )
        s.add(row)
        s.flush()
        return row.id


def queued(db: Database) -> list[PendingJob]:
    with db.session() as s:
        return list(s.scalars(select(PendingJob).order_by(PendingJob.id)))


def test_winner_by_ctr_queues_job_with_payload(db: Database) -> None:
    add_ad(db, "a1", 30)
    mid = add_metrics(db, "a1", 2000, 100)
    (job,) = queued(db)
    assert (job.job_type, job.status, job.dedupe_key) == (
        "rag_index_winner",
        "pending",
        "default:a1",
    )
    assert job.payload["ad_id"] == "a1"
    assert job.payload["ctr"] == pytest.approx(0.05)
    assert job.payload["impressions"] == 2000
    assert job.payload["metrics_id"] == mid
    assert {"video_id", "roas"} <= set(job.payload)


def test_winner_by_roas(db: Database) -> None:
    add_ad(db, "a2", 48)
    add_metrics(db, "a2", 1500, 10, roas=3.5)
    assert [j.payload["ad_id"] for j in queued(db)] == ["a2"]


@pytest.mark.parametrize(
    ("hours", "impressions", "clicks", "roas"),
    [
        (23.9, 5000, 500, 5.0),  # not live long enough
        (30, 999, 500, 5.0),  # one impression short
        (30, 1000, 30, 0.0),  # CTR exactly 0.03 is not > 0.03
        (30, 1000, 10, 3.0),  # ROAS exactly 3.0 is not > 3.0
    ],
)
def test_boundaries_do_not_qualify(
    db: Database, hours: float, impressions: int, clicks: int, roas: float
) -> None:
    add_ad(db, "b", hours)
    add_metrics(db, "b", impressions, clicks, roas)
    assert queued(db) == []


def test_thresholds_inclusive_at_minimums(db: Database) -> None:
    add_ad(db, "c", 24.01)
    add_metrics(db, "c", 1000, 31)
    assert len(queued(db)) == 1


def test_hours_counted_from_launch_not_row_creation(db: Database) -> None:
    add_ad(db, "fresh", 1)
    add_metrics(db, "fresh", 5000, 500)
    assert queued(db) == []
    with db.session() as s:  # the ad turns out to have launched 2 days ago
        s.execute(
            update(Ad).where(Ad.ad_id == "fresh").values(launched_at=utcnow() - timedelta(days=2))
        )
    add_metrics(db, "fresh", 5100, 510)
    assert len(queued(db)) == 1


def test_no_duplicate_pending_job_and_payload_refreshed(db: Database) -> None:
    add_ad(db, "d", 30)
    add_metrics(db, "d", 2000, 100)
    add_metrics(db, "d", 3000, 200)
    (job,) = queued(db)
    assert job.payload["impressions"] == 3000


def test_new_job_after_previous_done(db: Database) -> None:
    add_ad(db, "e", 30)
    add_metrics(db, "e", 2000, 100)
    with db.session() as s:
        s.execute(update(PendingJob).values(status="done"))
    add_metrics(db, "e", 3000, 200)
    assert [j.status for j in queued(db)] == ["done", "pending"]


def test_update_that_qualifies_queues(db: Database) -> None:
    add_ad(db, "f", 30)
    mid = add_metrics(db, "f", 2000, 10)
    assert queued(db) == []
    with db.session() as s:
        s.execute(update(PerformanceMetric).where(PerformanceMetric.id == mid).values(ctr=0.2))
    assert len(queued(db)) == 1


def test_thresholds_come_from_settings_table(db: Database) -> None:
    sync_winner_rule(db, WinnerRule(min_hours_live=1, min_impressions=10, min_ctr=0.5, min_roas=9))
    add_ad(db, "g", 2)
    add_metrics(db, "g", 100, 40)  # CTR 0.4: a winner under the defaults, not under these
    assert queued(db) == []
    add_metrics(db, "g", 100, 60)
    assert len(queued(db)) == 1


def test_unknown_rule_row_queues_nothing(db: Database) -> None:
    from core.db.models import WinnerRuleRow

    with db.session() as s:
        s.query(WinnerRuleRow).delete()
    add_ad(db, "h", 30)
    add_metrics(db, "h", 5000, 500)
    assert queued(db) == []
