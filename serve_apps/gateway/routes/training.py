"""Champion/challenger training runs (SPEC §5): start one, read its status, trials, decision."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from core.db import model_registry as rows
from core.db.models import TrainingRun
from serve_apps.gateway.deps import ServicesDep, TenantDep
from serve_apps.gateway.errors import ApiError
from serve_apps.gateway.schemas import Strict
from serve_apps.gateway.services import Services

router = APIRouter(prefix="/api/ml/train", tags=["training"])


class TrainIn(Strict):
    source: Literal["database", "synthetic"] = Field(
        "database",
        description="database: the tenant's ads and latest metrics; synthetic: generated ads "
        "with a known true CTR (demos, tests).",
    )
    synthetic_rows: int = Field(2000, ge=100, le=200_000)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    num_samples: int | None = Field(None, ge=1, le=256, description="Overrides tune.num_samples.")
    max_rounds: int | None = Field(None, ge=1, le=5000, description="Overrides tune.max_rounds.")


class TrainStarted(BaseModel):
    job_id: str
    kind: str
    status: str


class TrainStatus(BaseModel):
    job_id: str
    kind: str
    source: str
    status: str = Field(description="queued | running | succeeded | failed")
    trials: list[dict[str, Any]]
    decision: dict[str, Any] | None = Field(
        description="challenger_version, action (promoted | kept), reason, champion_version, "
        "metrics (held-out log loss, AUC, calibration of both; bootstrap interval)."
    )
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def _create(services: Services, tenant: str, kind: str, source: str) -> str:
    from training.pipeline import new_run

    return new_run(services.db, tenant_id=tenant, kind=kind, source=source)  # type: ignore[arg-type]


@router.post("/{kind}", response_model=TrainStarted, status_code=202)
async def start_training(
    kind: Literal["ctr", "value"], body: TrainIn, services: ServicesDep, tenant: TenantDep
) -> TrainStarted:
    """Queue a run: Ray Tune challengers, evaluation against the champion, promote or keep."""
    run_id = await asyncio.to_thread(_create, services, tenant, kind, body.source)
    overrides = {
        k: v
        for k, v in (("num_samples", body.num_samples), ("max_rounds", body.max_rounds))
        if v is not None
    }
    await services.actor("model_trainer").call(
        "start",
        run_id,
        tenant_id=tenant,
        kind=kind,
        source=body.source,
        synthetic_rows=body.synthetic_rows,
        seed=body.seed,
        tune_overrides=overrides,
    )
    return TrainStarted(job_id=run_id, kind=kind, status="queued")


def _out(run: TrainingRun) -> TrainStatus:
    return TrainStatus(
        job_id=run.run_id,
        kind=run.kind,
        source=run.source,
        status=run.status,
        trials=run.trials or [],
        decision=run.decision,
        error=run.error,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


def _get(services: Services, tenant: str, job_id: str) -> TrainStatus:
    with services.db.session() as s:
        run = rows.get_run(s, tenant_id=tenant, run_id=job_id)
        if run is None:
            raise ApiError(404, "training job not found", {"job_id": job_id})
        return _out(run)


@router.get("/{job_id}", response_model=TrainStatus)
async def get_training(
    services: ServicesDep,
    tenant: TenantDep,
    job_id: str = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$"),
) -> TrainStatus:
    """Status, trials (params, validation loss, device, early stop) and the decision."""
    return await asyncio.to_thread(_get, services, tenant, job_id)
