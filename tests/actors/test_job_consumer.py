"""JobConsumer + WinnerMemory actors against SQLite and real PostgreSQL."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import ray

from actors import catalogue
from core.db import ads as ads_db
from core.db import jobs
from core.db.engine import Database
from core.db.models import PendingJob, PerformanceMetric, utcnow
from core.settings import Settings

pytestmark = pytest.mark.usefixtures("ray_session")


def wait_for(predicate, timeout: float = 20.0, every: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


def winner_feedback(db: Database, ad_id: str, hook: str = "Big sale today") -> None:
    with db.session() as s:
        ads_db.upsert_ad(
            s,
            tenant_id="default",
            ad_id=ad_id,
            launched_at=utcnow() - timedelta(hours=48),
            creative=ads_db.CreativeSpec(hook_text=hook, cta="Shop now"),
        )
    with db.session() as s:
        s.add(PerformanceMetric(ad_id=ad_id, impressions=5000, clicks=400, ctr=0.08, roas=1.0))


@pytest.fixture
def actors(make_settings, db_kind: str, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    poll = getattr(request, "param", 0.2)
    settings: Settings = make_settings(db_kind, jobs={"poll_interval_s": poll, "lease_s": 3})
    memory = catalogue.get("winner_memory", settings)
    consumer = catalogue.get("job_consumer", settings)
    yield settings, memory, consumer
    for name in ("job_consumer", "winner_memory"):
        catalogue.kill(name, settings)


def test_consumer_indexes_queued_winners(actors, db_kind: str) -> None:  # type: ignore[no-untyped-def]
    settings, memory, consumer = actors
    db = Database(settings.db_url)
    for i in range(5):
        winner_feedback(db, f"ad{i}")
    stats = wait_for(
        lambda: (s := ray.get(memory.stats.remote("default")))["winner_count"] == 5 and s
    )
    assert stats["index_size"] == 5 and stats["by_reason"] == {"ctr": 5}

    def done() -> int | None:
        # A session per poll: on SQLite a session is a BEGIN IMMEDIATE transaction, and one
        # held across the wait would keep the consumer from marking its jobs done.
        with db.session() as s:
            return jobs.counts(s).get("done")

    wait_for(lambda: done() == 5)
    db.dispose()


def test_failing_job_retried_then_failed_with_error(actors) -> None:  # type: ignore[no-untyped-def]
    settings, _, consumer = actors
    db = Database(settings.db_url)
    with db.session() as s:  # a job for an ad that does not exist: the handler raises
        jid = jobs.enqueue(s, "rag_index_winner", {"ad_id": "ghost", "tenant_id": "default"})

    def status() -> str | None:
        with db.session() as s:
            s.query(PendingJob).filter(PendingJob.status == "pending").update(
                {"run_after": utcnow()}
            )
            row = s.get(PendingJob, jid)
            return row.status if row.status == "failed" else None

    wait_for(status, timeout=30)
    with db.session() as s:
        row = s.get(PendingJob, jid)
        assert row.attempts == settings.jobs.max_attempts
        assert "unknown ad: ghost" in row.last_error
    db.dispose()


@pytest.mark.parametrize("db_kind", ["postgresql"])
@pytest.mark.parametrize("actors", [30.0], indirect=True)
def test_postgres_notify_wakes_consumer_before_poll(actors) -> None:  # type: ignore[no-untyped-def]
    """With a 30 s poll interval, only LISTEN/NOTIFY can make this fast."""
    settings, memory, consumer = actors
    ray.get(consumer.stats.remote())  # started and idle
    time.sleep(1.0)  # let the first poll pass; the loop now waits up to 30 s
    db = Database(settings.db_url)
    start = time.monotonic()
    winner_feedback(db, "notify-ad")
    wait_for(lambda: ray.get(memory.stats.remote("default"))["winner_count"] == 1, timeout=10)
    assert time.monotonic() - start < 10
    db.dispose()
