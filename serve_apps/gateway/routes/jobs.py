"""Status of a queued job (the ``job_id`` that feedback returns), tenant-scoped."""

from __future__ import annotations

import asyncio
from datetime import datetime

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from core.db import jobs
from core.db.models import PendingJob
from serve_apps.gateway.deps import ServicesDep, TenantDep
from serve_apps.gateway.errors import ApiError
from serve_apps.gateway.schemas import MAX_COUNT
from serve_apps.gateway.services import Services

router = APIRouter(prefix="/api/ml/jobs", tags=["jobs"])


class QueuedJobOut(BaseModel):
    job_id: int
    type: str = Field(description="Job type, e.g. rag_index_winner.")
    status: str = Field(description="pending | running | done | failed")
    attempts: int
    last_error: str | None = Field(description="First line of the last failure, if any.")
    created_at: datetime
    updated_at: datetime
    run_after: datetime = Field(description="Not run before this time (retries back off).")
    finished_at: datetime | None


def _out(job: PendingJob) -> QueuedJobOut:
    error = job.last_error.splitlines()[0] if job.last_error else None
    return QueuedJobOut(
        job_id=job.id,
        type=job.job_type,
        status=job.status,
        attempts=job.attempts,
        last_error=error,
        created_at=job.created_at,
        updated_at=job.updated_at,
        run_after=job.run_after,
        finished_at=job.finished_at,
    )


def _get(services: Services, tenant: str, job_id: int) -> QueuedJobOut:
    with services.db.session() as s:
        job = jobs.get_job(s, tenant_id=tenant, job_id=job_id)
        if job is None:
            raise ApiError(404, "job not found", {"job_id": job_id})
        return _out(job)


@router.get("/{job_id}", response_model=QueuedJobOut)
async def get_job(
    services: ServicesDep, tenant: TenantDep, job_id: int = Path(ge=1, le=MAX_COUNT)
) -> QueuedJobOut:
    """Type, status, attempts, last error and timestamps of one of this tenant's jobs."""
    return await asyncio.to_thread(_get, services, tenant, job_id)
