"""Pro video operations over HTTP (SPEC §2, §6): one operation, batches, background jobs.

Requests are validated here (type, config, path confinement); the work runs as Ray tasks.
Batches over ``batch.async_threshold`` operations (or ``mode: async``) answer 202 with a
job id, polled at ``GET /api/pro/jobs/{id}``.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from core.db.pro_jobs import JobStore
from core.settings import Settings
from core.video import (
    ConfigError,
    MediaRoots,
    OperationResult,
    PathNotAllowedError,
    UnknownOperationError,
    canonical_type,
    get_video_config,
    operation_types,
    validate_operation,
)
from core.video.safety import safe_component
from serve_apps.gateway.deps import ServicesDep, TenantDep
from serve_apps.gateway.errors import ApiError
from serve_apps.gateway.services import ActorRef, Services
from serve_apps.video.batch import BatchResult, OperationSpec, run_batch
from serve_apps.video.tasks import RunContext, crashed, submit

router = APIRouter(prefix="/api/pro", tags=["pro"])


class BatchIn(BaseModel):
    """``operations`` to run; ``parallel`` false runs them in order; ``mode`` forces the
    synchronous (200) or background (202) answer instead of choosing by size."""

    operations: list[OperationSpec] = Field(..., min_length=1)
    parallel: bool = True
    mode: Literal["auto", "sync", "async"] = "auto"


class OperationIn(BaseModel):
    video_path: str = Field(..., min_length=1, max_length=1024)
    config: dict[str, Any] = Field(default_factory=dict)


class JobAccepted(BaseModel):
    job_id: str
    status: str
    total: int
    status_url: str


class JobOut(BaseModel):
    """Progress of a background batch; ``results`` holds ``null`` for unfinished items."""

    job_id: str
    status: str
    total: int
    completed: int
    successful: int
    progress: float
    results: list[dict[str, Any] | None]
    error: str | None = None
    created_at: datetime
    updated_at: datetime


class OperationsOut(BaseModel):
    operations: list[str]
    gpu_capable: list[str]


def _roots(settings: Settings) -> MediaRoots:
    return MediaRoots.from_settings(settings)


def _validate(ops: list[OperationSpec], roots: MediaRoots, tenant: str) -> None:
    """422 for unknown types or bad configs, 400 for paths outside the media root (or in
    another tenant's assets)."""
    invalid, outside = [], []
    for i, op in enumerate(ops):
        try:
            validate_operation(op.type, op.video_path, op.config, roots, tenant)
        except UnknownOperationError as exc:
            invalid.append(
                {"index": i, "type": op.type, "error": str(exc), "known": operation_types()}
            )
        except ConfigError as exc:
            invalid.append({"index": i, "type": op.type, "error": str(exc), "errors": exc.errors})
        except PathNotAllowedError as exc:
            outside.append({"index": i, "video_path": op.video_path, "error": str(exc)})
    if invalid:
        raise ApiError(
            422, invalid[0]["error"] if len(invalid) == 1 else "invalid operations", invalid
        )
    if outside:
        raise ApiError(400, "video_path must be inside the media root", outside)


def _context(services: Services, tenant: str, run_id: str) -> RunContext:
    roots = _roots(services.settings)
    return RunContext(
        roots=roots,
        output_dir=roots.output_root / safe_component(tenant) / run_id,
        feature_dim=services.settings.memory.video_dim,
        tenant=tenant,
    )


def _jobs_actor(services: Services) -> ActorRef:
    return services.actor("pro_video_jobs")


@router.get("/operations", response_model=OperationsOut)
async def list_operations() -> OperationsOut:
    """The operation types and which of them may run on GPU nodes."""
    return OperationsOut(
        operations=operation_types(), gpu_capable=sorted(get_video_config().gpu_capable)
    )


@router.post(
    "/batch", response_model=BatchResult, responses={202: {"model": JobAccepted}, 400: {}, 422: {}}
)
async def batch(body: BatchIn, services: ServicesDep, tenant: TenantDep) -> Any:
    """Run a batch: inline (200, SPEC §2 shape) or in the background (202 + job id)."""
    vc = get_video_config()
    if len(body.operations) > vc.limits.max_batch_operations:
        raise ApiError(
            422,
            f"at most {vc.limits.max_batch_operations} operations per batch",
            {"operations": len(body.operations)},
        )
    _validate(body.operations, _roots(services.settings), tenant)
    background = body.mode == "async" or (
        body.mode == "auto" and len(body.operations) > vc.batch.async_threshold
    )
    if not background:
        return await run_batch(
            body.operations, _context(services, tenant, uuid.uuid4().hex), parallel=body.parallel
        )
    store = JobStore(services.db)
    request = body.model_dump(mode="json", exclude={"mode"})
    job_id = await asyncio.to_thread(store.create, tenant, request, len(body.operations))
    await _jobs_actor(services).call("submit", job_id)
    accepted = JobAccepted(
        job_id=job_id,
        status="queued",
        total=len(body.operations),
        status_url=f"{router.prefix}/jobs/{job_id}",
    )
    return JSONResponse(accepted.model_dump(), status_code=status.HTTP_202_ACCEPTED)


@router.get("/jobs/{job_id}", response_model=JobOut)
async def get_job(job_id: str, services: ServicesDep, tenant: TenantDep) -> JobOut:
    """Progress and results so far of a background batch (404 for another tenant's job)."""
    job = await asyncio.to_thread(JobStore(services.db).get, job_id, tenant)
    if job is None:
        raise ApiError(404, "unknown job", {"job_id": job_id})
    if job["status"] in ("queued", "running"):
        _jobs_actor(services).tell("ping")  # a restarted runner resumes its jobs
    total = job["total"] or 0
    return JobOut(
        **{k: v for k, v in job.items() if k not in ("tenant_id", "request")},
        progress=round(job["completed"] / total, 4) if total else 1.0,
    )


@router.post("/{op_type}", response_model=OperationResult, responses={400: {}, 404: {}, 422: {}})
async def run_one(
    op_type: str, body: OperationIn, services: ServicesDep, tenant: TenantDep
) -> OperationResult:
    """One operation, answered with the same shape as one batch item (``color-grade`` =
    ``color_grade``)."""
    op_type = canonical_type(op_type)
    if op_type not in operation_types():
        raise ApiError(404, "unknown operation type", {"type": op_type, "known": operation_types()})
    spec = OperationSpec(type=op_type, video_path=body.video_path, config=body.config)
    _validate([spec], _roots(services.settings), tenant)
    ctx = _context(services, tenant, uuid.uuid4().hex)
    ref = submit(op_type, body.video_path, body.config, ctx)
    try:
        return OperationResult.model_validate(await ref)
    except Exception as exc:  # worker died: a per-operation failure, not a 500
        return OperationResult.model_validate(crashed(op_type, body.video_path, exc))
