"""Pro video jobs (202 + polling): rows of ``pro_jobs``; every method is one short
transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from core.db.engine import Database
from core.db.models import ProJob

UNFINISHED = ("queued", "running")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class JobStore:
    """Create, read and advance pro jobs; every method is one short transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, tenant_id: str, request: dict[str, Any], total: int) -> str:
        job_id = uuid.uuid4().hex
        with self.db.session() as s:
            s.add(
                ProJob(
                    job_id=job_id,
                    tenant_id=tenant_id,
                    status="queued",
                    total=total,
                    completed=0,
                    successful=0,
                    request=request,
                    results=[None] * total,
                    created_at=_now(),
                    updated_at=_now(),
                )
            )
        return job_id

    def get(self, job_id: str, tenant_id: str | None = None) -> dict[str, Any] | None:
        """The job as a dict; ``None`` when absent or of another tenant."""
        with self.db.session() as s:
            job = s.get(ProJob, job_id)
            if job is None or (tenant_id is not None and job.tenant_id != tenant_id):
                return None
            return {
                c: getattr(job, c)
                for c in (
                    "job_id",
                    "tenant_id",
                    "status",
                    "total",
                    "completed",
                    "successful",
                    "request",
                    "results",
                    "error",
                    "created_at",
                    "updated_at",
                )
            }

    def unfinished(self) -> list[str]:
        with self.db.session() as s:
            rows = s.scalars(select(ProJob.job_id).where(ProJob.status.in_(UNFINISHED)))
            return list(rows)

    def set_status(self, job_id: str, status: str, error: str | None = None) -> None:
        with self.db.session() as s:
            job = s.get(ProJob, job_id)
            if job is not None:
                job.status, job.error, job.updated_at = status, error, _now()

    def record(self, job_id: str, index: int, result: dict[str, Any]) -> None:
        """Store one operation's result and the progress counters."""
        with self.db.session() as s:
            job = s.get(ProJob, job_id)
            if job is None:
                return
            results = list(job.results or [None] * job.total)
            results[index] = result
            job.results = results
            done = [r for r in results if r is not None]
            job.completed = len(done)
            job.successful = sum(r["status"] == "success" for r in done)
            job.updated_at = _now()

    def finish(self, job_id: str, status_of: Callable[[list[dict[str, Any]]], str]) -> None:
        """Close the job with the status ``status_of`` gives its results."""
        with self.db.session() as s:
            job = s.get(ProJob, job_id)
            if job is not None:
                job.status = status_of([r for r in job.results if r is not None])
                job.updated_at = _now()
