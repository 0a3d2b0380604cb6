"""The job queue on ``pending_jobs``: claim (SKIP LOCKED on PostgreSQL), complete, fail.

A claim leases the job for ``lease_s``; a worker that dies leaves a lease that expires, and
the job is claimed again. Each claim counts as an attempt; after ``max_attempts`` the job
is ``failed`` with its last error kept. Retries wait ``base * 2^(attempt-1)`` (capped).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from core.db.models import PendingJob, utcnow
from core.settings import JobSettings


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    job_type: str
    payload: dict[str, Any]
    attempts: int
    tenant_id: str


def enqueue(
    session: Session,
    job_type: str,
    payload: dict[str, Any],
    *,
    tenant_id: str = "default",
    dedupe_key: str | None = None,
) -> int:
    """Queue a job (the winner trigger queues its own; this is for everything else)."""
    job = PendingJob(job_type=job_type, payload=payload, tenant_id=tenant_id, dedupe_key=dedupe_key)
    session.add(job)
    session.flush()
    return job.id


def get_job(session: Session, *, tenant_id: str, job_id: int) -> PendingJob | None:
    """One of the tenant's jobs (another tenant's id reads as missing)."""
    return session.scalar(
        select(PendingJob).where(PendingJob.id == job_id, PendingJob.tenant_id == tenant_id)
    )


def claim(
    session: Session, *, worker: str, limit: int, lease_s: float, job_types: list[str] | None = None
) -> list[ClaimedJob]:
    """Take up to ``limit`` due jobs; no two workers get the same row."""
    now = utcnow()
    due = or_(
        and_(PendingJob.status == "pending", PendingJob.run_after <= now),
        and_(PendingJob.status == "running", PendingJob.leased_until < now),
    )
    candidates = select(PendingJob.id).where(due)
    if job_types:
        candidates = candidates.where(PendingJob.job_type.in_(job_types))
    candidates = candidates.order_by(PendingJob.id).limit(limit).with_for_update(skip_locked=True)
    stmt = (
        update(PendingJob)
        .where(PendingJob.id.in_(candidates.scalar_subquery()))
        .values(
            status="running",
            attempts=PendingJob.attempts + 1,
            leased_until=now + timedelta(seconds=lease_s),
            locked_by=worker,
            updated_at=now,
        )
        .returning(
            PendingJob.id,
            PendingJob.job_type,
            PendingJob.payload,
            PendingJob.attempts,
            PendingJob.tenant_id,
        )
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(stmt).all()
    return sorted((ClaimedJob(*row) for row in rows), key=lambda j: j.id)


def complete(session: Session, job_id: int, note: str | None = None) -> None:
    now = utcnow()
    session.execute(
        update(PendingJob)
        .where(PendingJob.id == job_id)
        .values(status="done", finished_at=now, updated_at=now, leased_until=None, last_error=note)
        .execution_options(synchronize_session=False)
    )


def complete_many(session: Session, job_ids: list[int]) -> None:
    """Mark many jobs done in one statement."""
    if not job_ids:
        return
    now = utcnow()
    session.execute(
        update(PendingJob)
        .where(PendingJob.id.in_(job_ids))
        .values(status="done", finished_at=now, updated_at=now, leased_until=None, last_error=None)
        .execution_options(synchronize_session=False)
    )


def backoff_s(attempts: int, cfg: JobSettings) -> float:
    return min(cfg.backoff_base_s * 2 ** max(attempts - 1, 0), cfg.backoff_max_s)


def fail(session: Session, job_id: int, error: str, cfg: JobSettings) -> str:
    """Record a failure: retry later, or give up (``failed``). Returns the new status."""
    job = session.get(PendingJob, job_id, with_for_update=True)
    if job is None:
        return "missing"
    now = utcnow()
    job.last_error = error[:4000]
    job.updated_at = now
    job.leased_until = None
    if job.attempts >= cfg.max_attempts:
        job.status, job.finished_at = "failed", now
        return job.status
    if job.dedupe_key is not None:
        newer = aliased(PendingJob)
        newer_id = session.scalar(
            select(newer.id).where(
                newer.job_type == job.job_type,
                newer.dedupe_key == job.dedupe_key,
                newer.status == "pending",
                newer.id != job.id,
            )
        )
        if newer_id is not None:  # a fresher job for the same key will do the work
            job.status, job.finished_at = "done", now
            job.last_error = f"superseded by job {newer_id} after error: {error}"[:4000]
            return job.status
    job.status = "pending"
    job.run_after = now + timedelta(seconds=backoff_s(job.attempts, cfg))
    return job.status


def counts(session: Session) -> dict[str, int]:
    """Jobs by status."""
    rows = session.execute(
        select(PendingJob.status, func.count()).group_by(PendingJob.status)
    ).all()
    return {status: n for status, n in rows}


OPEN_STATUSES = ("pending", "running", "failed")


def open_counts(session: Session, *, tenant_id: str | None = None) -> dict[str, int]:
    """The queue's depth: jobs not done (``pending``, ``running``, ``failed``), each status
    present (0 when none), of one tenant or of all. Done rows, the bulk of the table, are
    not counted, so the status index answers it."""
    stmt = (
        select(PendingJob.status, func.count())
        .where(PendingJob.status.in_(OPEN_STATUSES))
        .group_by(PendingJob.status)
    )
    if tenant_id is not None:
        stmt = stmt.where(PendingJob.tenant_id == tenant_id)
    found = dict(session.execute(stmt).all())
    return {status: int(found.get(status, 0)) for status in OPEN_STATUSES}
