"""The self-learning cycle (SPEC §4): run one now, read past cycles, and what they learned
(cross-learner insights, creative DNA). Cycles run in the ``learning_orchestrator`` actor;
reads come from the database."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from core.db import learning as repo
from core.learning.config import LearningConfig
from core.learning.cycle import cycle_result
from serve_apps.gateway.deps import RequestedByDep, ServicesDep, TenantDep
from serve_apps.gateway.errors import ApiError
from serve_apps.gateway.schemas import Strict
from serve_apps.gateway.services import Services

router = APIRouter(prefix="/api/ml", tags=["learning"])
POLL_S = 0.2


class CycleIn(Strict):
    wait_s: float | None = Field(
        None,
        ge=0,
        le=600,
        description="Wait at most this long for the result (default: learning.yaml "
        "cycle.wait_s); a cycle still running then answers 202 with its id.",
    )


class Step(BaseModel):
    name: str
    status: str = Field(description="completed | skipped | failed")
    counts: dict[str, Any]
    duration_seconds: float | None = None
    reason: str | None = None
    error: str | None = None


class CycleOut(BaseModel):
    cycle_id: str
    tenant_id: str
    trigger: str
    status: str = Field(description="running | completed | partial | failed")
    cycle_started_at: datetime
    cycle_completed_at: datetime | None
    duration_seconds: float | None
    error: str | None
    steps: list[Step]


class CycleList(BaseModel):
    items: list[CycleOut]


class LearnedOut(BaseModel):
    cycle_id: str | None = Field(description="The cycle that produced it (null: none yet).")
    created_at: datetime | None
    result: dict[str, Any]


def _read(services: Services, tenant: str, cycle_id: str) -> dict[str, Any] | None:
    with services.db.session() as s:
        row = repo.get_cycle(s, tenant_id=tenant, cycle_id=cycle_id)
        return None if row is None else cycle_result(row)


@router.post(
    "/self-learning-cycle",
    response_model=CycleOut,
    responses={202: {"model": CycleOut}, 409: {"description": "a cycle is already running"}},
)
async def run_cycle(
    services: ServicesDep, tenant: TenantDep, who: RequestedByDep, body: CycleIn | None = None
) -> Any:
    """Run the seven loops now; the result when done within ``wait_s``, else 202 and the
    running cycle (poll GET …/{cycle_id}). A cycle already running: 409 with its id."""
    started = await services.actor("learning_orchestrator").call("start_cycle", tenant, "api", who)
    cycle_id = started["cycle_id"]
    if not started["started"]:
        raise ApiError(409, "a learning cycle is already running", {"cycle_id": cycle_id})
    wait = (
        LearningConfig.load().cycle.wait_s if body is None or body.wait_s is None else body.wait_s
    )
    deadline = time.monotonic() + wait
    while True:
        result = await asyncio.to_thread(_read, services, tenant, cycle_id)
        if result is not None and result["status"] != "running":
            return result
        if time.monotonic() >= deadline:
            return JSONResponse(CycleOut.model_validate(result).model_dump(mode="json"), 202)
        await asyncio.sleep(POLL_S)


@router.get("/self-learning-cycle", response_model=CycleList)
async def history(
    services: ServicesDep, tenant: TenantDep, limit: int = Query(20, ge=1, le=200)
) -> CycleList:
    """The tenant's cycles, newest first."""

    def read() -> list[dict[str, Any]]:
        with services.db.session() as s:
            return [cycle_result(r) for r in repo.list_cycles(s, tenant_id=tenant, limit=limit)]

    return CycleList(items=[CycleOut.model_validate(c) for c in await asyncio.to_thread(read)])


@router.get("/self-learning-cycle/latest", response_model=CycleOut)
async def latest(services: ServicesDep, tenant: TenantDep) -> Any:
    def read() -> dict[str, Any] | None:
        with services.db.session() as s:
            row = repo.latest_cycle(s, tenant_id=tenant)
            return None if row is None else cycle_result(row)

    result = await asyncio.to_thread(read)
    if result is None:
        raise ApiError(404, "no learning cycle yet", {"hint": "POST /api/ml/self-learning-cycle"})
    return result


@router.get("/self-learning-cycle/{cycle_id}", response_model=CycleOut)
async def get_cycle(
    services: ServicesDep,
    tenant: TenantDep,
    cycle_id: str = Path(min_length=1, max_length=36),
) -> Any:
    result = await asyncio.to_thread(_read, services, tenant, cycle_id)
    if result is None:
        raise ApiError(404, f"no learning cycle {cycle_id}")
    return result


def _learned(services: Services, tenant: str, kind: str) -> LearnedOut:
    with services.db.session() as s:
        row = repo.latest_result(s, tenant_id=tenant, kind=kind)
        if row is None:
            return LearnedOut(cycle_id=None, created_at=None, result={})
        return LearnedOut(cycle_id=row.cycle_id, created_at=row.created_at, result=row.payload)


@router.get("/insights", response_model=LearnedOut)
async def insights(services: ServicesDep, tenant: TenantDep) -> LearnedOut:
    """The cross-learner's latest findings: which creative features lift CTR and ROAS across
    campaigns (per-feature lift with a confidence interval)."""
    return await asyncio.to_thread(_learned, services, tenant, "insights")


@router.get("/creative-dna", response_model=LearnedOut)
async def creative_dna(services: ServicesDep, tenant: TenantDep) -> LearnedOut:
    """What separates the tenant's winners from the rest: feature importances of an XGBoost
    classifier and readable rules with their support and lift."""
    return await asyncio.to_thread(_learned, services, tenant, "creative_dna")
