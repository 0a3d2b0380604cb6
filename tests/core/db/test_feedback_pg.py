"""The PostgreSQL hot path of per-row feedback (async psycopg, one pipeline a group)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import func, select

from core.db.engine import Database
from core.db.feedback import FeedbackRow
from core.db.feedback_pg import AsyncConnectionPool, write_feedback_group
from core.db.models import Ad, PendingJob, PerformanceMetric, utcnow
from core.settings import Settings


@pytest.fixture
def pg(make_settings: Callable[..., Settings]):
    settings = make_settings("postgresql")
    db = Database(settings.db_url)
    yield settings, db
    db.dispose()


def write(settings: Settings, db: Database, items: list[tuple[str, FeedbackRow]]):
    async def main():
        pool = AsyncConnectionPool(db.libpq_dsn, 1)
        try:
            return await pool.run(write_feedback_group, items, settings.winner)
        finally:
            await pool.close()

    return asyncio.run(main())


def test_group_rows_get_their_own_ids_winners_and_jobs(pg) -> None:
    settings, db = pg
    launched = utcnow() - timedelta(hours=30)
    items = [
        (
            "default",
            FeedbackRow(f"g{i}", impressions=2000, clicks=20 + 60 * (i % 2), launched_at=launched),
        )
        for i in range(12)
    ] + [("other", FeedbackRow("g0", impressions=500, clicks=400, spend=1.0, revenue=2.0))]
    results = write(settings, db, items)
    assert [r.ad_id for r in results] == [row.ad_id for _, row in items]
    with db.session() as s:
        stored = {m.id: m for m in s.scalars(select(PerformanceMetric))}
        jobs = {j.dedupe_key: j.id for j in s.scalars(select(PendingJob))}
        ads = {(a.tenant_id, a.ad_id): a for a in s.scalars(select(Ad))}
    for (tenant, row), r in zip(items, results, strict=True):
        m = stored[r.metrics_id]  # each answer names the row it stored
        assert (m.tenant_id, m.ad_id, m.clicks) == (tenant, row.ad_id, row.clicks)
        assert r.ctr == pytest.approx(row.clicks / row.impressions)
    odd = [r for r in results[:12] if r.clicks == 80]  # CTR 1% is no winner, 4% is
    assert all(r.winner and r.reason == "ctr" for r in odd) and len(odd) == 6
    assert all(r.job_id == jobs[f"default:{r.ad_id}"] for r in odd)
    assert not any(r.winner or r.job_id for r in results if r.clicks == 20)
    assert results[12].hours_live == pytest.approx(0, abs=0.01)  # launched now: too young
    assert not results[12].winner and ("other", "g0") in ads
    assert ads[("default", "g1")].launched_at == launched
    assert odd[0].hours_live == pytest.approx(30, abs=0.01)


def test_same_ad_twice_in_a_group_and_known_ads(pg) -> None:
    settings, db = pg
    launched = utcnow() - timedelta(hours=48)
    first = write(settings, db, [("default", FeedbackRow("k1", 1000, 10, launched_at=launched))])
    row = FeedbackRow("k1", 3000, 300)  # launched_at of a known ad is ignored
    results = write(settings, db, [("default", row), ("default", row)])
    ids = [first[0].metrics_id] + [r.metrics_id for r in results]
    assert len(set(ids)) == 3 and ids == sorted(ids)
    assert all(r.winner and r.hours_live == pytest.approx(48, abs=0.01) for r in results)
    assert results[0].job_id == results[1].job_id is not None  # one pending job per ad


def test_a_group_that_cannot_win_skips_the_job_read(pg) -> None:
    """Rows under every threshold (the usual case): no queued-job read; an ad that already
    has a queued job is not reported with it (it did not win now)."""
    settings, db = pg
    launched = utcnow() - timedelta(hours=48)
    (won,) = write(settings, db, [("default", FeedbackRow("n1", 2000, 100, launched_at=launched))])
    assert won.winner and won.job_id is not None
    rows = [("default", FeedbackRow(a, 2000, 2)) for a in ("n1", "n2")]
    results = write(settings, db, rows)
    assert [(r.winner, r.job_id) for r in results] == [(False, None), (False, None)]
    assert all(r.metrics_id is not None for r in results)


def test_a_broken_connection_is_replaced(pg) -> None:
    settings, db = pg

    async def main():
        pool = AsyncConnectionPool(db.libpq_dsn, 1)
        try:
            row = [("default", FeedbackRow("b1", 10, 1))]
            await pool.run(write_feedback_group, row, settings.winner)

            async def kill(conn: psycopg.AsyncConnection) -> None:
                async with await psycopg.AsyncConnection.connect(
                    db.libpq_dsn, autocommit=True
                ) as c:
                    await c.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))

            await pool.run(kill)
            with pytest.raises(psycopg.OperationalError):
                await pool.run(write_feedback_group, row, settings.winner)
            return await pool.run(write_feedback_group, row, settings.winner)  # a new connection
        finally:
            await pool.close()

    (result,) = asyncio.run(main())
    assert result.metrics_id is not None


def test_a_failed_group_rolls_back_and_the_connection_goes_on(pg) -> None:
    settings, db = pg

    async def main():
        pool = AsyncConnectionPool(db.libpq_dsn, 1)
        try:
            bad = [
                ("default", FeedbackRow("ok-1", 10, 1)),
                ("default", FeedbackRow("x" * 300, 10, 1)),
            ]
            with pytest.raises(psycopg.errors.StringDataRightTruncation):
                await pool.run(write_feedback_group, bad, settings.winner)
            return await pool.run(write_feedback_group, bad[:1], settings.winner)
        finally:
            await pool.close()

    (result,) = asyncio.run(main())
    with db.session() as s:
        rows = s.scalars(select(PerformanceMetric.id).where(PerformanceMetric.ad_id == "ok-1"))
        assert list(rows) == [result.metrics_id]  # the failed group left nothing behind


def test_a_group_failing_after_its_ad_upsert_leaves_no_ad(pg) -> None:
    """The group's statements are one transaction: the metrics insert fails (video id too
    long) after the ad upsert succeeded, and the new ad is rolled back with it."""
    settings, db = pg

    async def main():
        pool = AsyncConnectionPool(db.libpq_dsn, 1)
        try:
            bad = [("default", FeedbackRow("late-fail", 10, 1, video_id="v" * 300))]
            with pytest.raises(psycopg.errors.StringDataRightTruncation):
                await pool.run(write_feedback_group, bad, settings.winner)
        finally:
            await pool.close()

    asyncio.run(main())
    with db.session() as s:
        assert s.get(Ad, {"tenant_id": "default", "ad_id": "late-fail"}) is None


def test_concurrent_batches_sharing_ads_do_not_deadlock(pg) -> None:
    """Two batch transactions over the same winners in opposite orders (the trigger locks
    each ad's queued job): rows go in by ad, so neither waits on the other in a cycle."""
    import threading

    from core.db.feedback import record_feedback

    settings, db = pg
    launched = utcnow() - timedelta(hours=30)
    ads = [f"d{i:03d}" for i in range(150)]
    errors: list[BaseException] = []

    def batch(ad_ids: list[str]) -> None:
        for _ in range(4):
            rows = [FeedbackRow(a, 2000, 100, launched_at=launched) for a in ad_ids]
            try:
                with db.engine.begin() as conn:
                    record_feedback(conn, rows, tenant_id="default", rule=settings.winner)
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

    threads = [threading.Thread(target=batch, args=(order,)) for order in (ads, ads[::-1])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:1]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(PerformanceMetric)) == 2 * 4 * 150
