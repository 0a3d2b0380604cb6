"""The job queue, on SQLite and real PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import select, update

from core.db import jobs
from core.db.engine import Database
from core.db.models import PendingJob, utcnow
from core.settings import Settings

CFG = Settings.load().jobs.model_copy(
    update={"max_attempts": 3, "backoff_base_s": 10, "backoff_max_s": 100, "lease_s": 30}
)


def enqueue_many(db: Database, n: int, job_type: str = "t") -> list[int]:
    with db.session() as s:
        return [jobs.enqueue(s, job_type, {"i": i}) for i in range(n)]


def test_claim_marks_running_and_counts_attempt(db: Database) -> None:
    ids = enqueue_many(db, 3)
    with db.session() as s:
        batch = jobs.claim(s, worker="w1", limit=2, lease_s=30)
    assert [j.id for j in batch] == ids[:2]
    assert all(j.attempts == 1 for j in batch)
    with db.session() as s:
        assert jobs.counts(s) == {"running": 2, "pending": 1}


def test_complete(db: Database) -> None:
    (jid,) = enqueue_many(db, 1)
    with db.session() as s:
        jobs.claim(s, worker="w", limit=5, lease_s=30)
        jobs.complete(s, jid)
    with db.session() as s:
        job = s.get(PendingJob, jid)
        assert job.status == "done" and job.finished_at is not None


def test_failure_backs_off_then_gives_up_with_error(db: Database) -> None:
    (jid,) = enqueue_many(db, 1)
    for attempt in range(1, CFG.max_attempts + 1):
        with db.session() as s:
            s.execute(update(PendingJob).values(run_after=utcnow()))  # skip the wait
            (job,) = jobs.claim(s, worker="w", limit=1, lease_s=30)
            assert job.attempts == attempt
            status = jobs.fail(s, jid, f"boom {attempt}", CFG)
        with db.session() as s:
            row = s.get(PendingJob, jid)
            if attempt < CFG.max_attempts:
                assert status == "pending"
                wait = (row.run_after - utcnow()).total_seconds()
                assert 0.5 * jobs.backoff_s(attempt, CFG) < wait <= jobs.backoff_s(attempt, CFG)
                assert jobs.claim(s, worker="w", limit=1, lease_s=30) == []  # not due yet
    with db.session() as s:
        row = s.get(PendingJob, jid)
        assert (row.status, row.last_error, row.attempts) == ("failed", "boom 3", 3)


def test_expired_lease_is_claimed_again(db: Database) -> None:
    (jid,) = enqueue_many(db, 1)
    with db.session() as s:
        jobs.claim(s, worker="dead", limit=1, lease_s=30)
        assert jobs.claim(s, worker="other", limit=1, lease_s=30) == []
        s.execute(update(PendingJob).values(leased_until=utcnow() - timedelta(seconds=1)))
        (job,) = jobs.claim(s, worker="other", limit=1, lease_s=30)
    assert (job.id, job.attempts) == (jid, 2)


def test_failed_retry_superseded_by_newer_pending_job(db: Database) -> None:
    with db.session() as s:
        first = jobs.enqueue(s, "t", {"v": 1}, dedupe_key="k")
        jobs.claim(s, worker="w", limit=1, lease_s=30)
        newer = jobs.enqueue(s, "t", {"v": 2}, dedupe_key="k")
        assert jobs.fail(s, first, "boom", CFG) == "done"
    with db.session() as s:
        assert f"superseded by job {newer}" in s.get(PendingJob, first).last_error
        assert s.get(PendingJob, newer).status == "pending"


def test_concurrent_workers_never_share_a_job(db: Database, settings: Settings) -> None:
    ids = set(enqueue_many(db, 60))
    got: dict[str, list[int]] = {"a": [], "b": [], "c": []}

    def worker(name: str) -> None:
        own = Database(settings.db_url)
        try:
            while True:
                with own.session() as s:
                    batch = jobs.claim(s, worker=name, limit=3, lease_s=30)
                    time.sleep(0.005)  # hold the rows while the others try
                if not batch:
                    return
                got[name].extend(j.id for j in batch)
        finally:
            own.dispose()

    threads = [threading.Thread(target=worker, args=(n,)) for n in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    claimed = [i for lst in got.values() for i in lst]
    assert sorted(claimed) == sorted(ids)  # every job once, none twice
    with db.session() as s:
        owners = dict(s.execute(select(PendingJob.id, PendingJob.locked_by)).all())
    assert all(owners[i] == name for name, lst in got.items() for i in lst)
