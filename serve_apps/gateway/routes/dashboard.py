"""The dashboard: a static page and its data (docs/dashboard.md).

The page, its script and its stylesheet are public (no key, no data in them): the page asks
for an API key, keeps it in the tab's ``sessionStorage`` and reads ``GET
/api/dashboard/state`` with it every few seconds. That endpoint needs the key like any other
and answers the key's tenant's state only. The page loads nothing from anywhere else, and its
Content-Security-Policy says so to the browser.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from core.db import dashboard
from serve_apps.gateway.deps import ServicesDep, TenantDep
from serve_apps.gateway.schemas import Money, Rate, Roas
from serve_apps.gateway.services import Services

router = APIRouter(tags=["dashboard"])
STATIC = Path(__file__).resolve().parent.parent / "static"
REFRESH_S = 5  # how often the page reads the state
MAX_ARMS = 12  # arms shown per experiment (the answer says how many there are)

# What the page may load: its own script, style and data; nothing else, from nowhere else.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
# (route path, file under static/, media type)
ASSETS = (
    ("/dashboard", "dashboard.html", "text/html"),
    ("/dashboard/app.js", "dashboard.js", "text/javascript"),
    ("/dashboard/app.css", "dashboard.css", "text/css"),
)
# "/dashboard/" too: it redirects to the page.
PUBLIC_PATHS = frozenset(path for path, _, _ in ASSETS) | {"/dashboard/"}


@lru_cache(maxsize=len(ASSETS))
def _read(name: str) -> bytes:
    return (STATIC / name).read_bytes()


def _static_route(path: str, name: str, media_type: str) -> None:
    async def serve() -> Response:
        return Response(_read(name), media_type=media_type, headers=SECURITY_HEADERS)

    router.add_api_route(
        path,
        serve,
        methods=["GET"],
        response_class=Response,
        responses={200: {"content": {media_type: {}}}},
        summary=f"The dashboard's {name.rsplit('.', 1)[1]} (public: it holds no data)",
        name=f"dashboard_{name.replace('.', '_')}",
    )


for _path, _name, _media in ASSETS:
    _static_route(_path, _name, _media)


# --- the state ----------------------------------------------------------------------------
class ArmOut(BaseModel):
    ad_id: str
    mean: Rate = Field(description="Posterior mean of the success rate, as last folded.")
    trials: int
    successes: int
    share: Rate | None = Field(description="Share of the latest allocation (null: none yet).")
    amount: Money | None
    prob_best: Rate | None


class AllocationOut(BaseModel):
    total_budget: Money | None
    at: datetime


class ExperimentOut(BaseModel):
    experiment_id: str
    name: str | None
    status: str
    metric: str
    created_at: datetime
    leader: str | None = Field(description="Largest share of the latest allocation, else mean.")
    allocation: AllocationOut | None
    arms_total: int
    arms: list[ArmOut] = Field(description=f"At most {MAX_ARMS}, largest share first.")


class WinnerOut(BaseModel):
    ad_id: str
    reason: str
    ctr: Rate
    roas: Roas
    impressions: int
    hook_text: str | None
    indexed_at: datetime


class WinnersOut(BaseModel):
    total: int
    by_reason: dict[str, int]
    recent: list[WinnerOut]


class ChangeOut(BaseModel):
    id: int
    kind: str
    object_id: str
    ad_id: str | None
    status: str
    old_value: Any
    new_value: Any
    applied_value: Any
    dry_run: bool | None
    reason: str | None
    requested_by: str
    error: str | None
    created_at: datetime
    applied_at: datetime | None


class ChangesOut(BaseModel):
    counts: dict[str, int] = Field(description="Every status, 0 when none.")
    recent: list[ChangeOut]


class StepOut(BaseModel):
    name: str
    status: str
    duration_seconds: float | None


class CycleOut(BaseModel):
    cycle_id: str
    trigger: str
    status: str
    started_at: datetime
    completed_at: datetime | None
    duration_seconds: float | None
    steps: list[StepOut]


class ChampionOut(BaseModel):
    kind: str
    version: str
    promoted_at: datetime | None
    metrics: dict[str, float]


class VersionOut(BaseModel):
    kind: str
    version: str
    status: str
    created_at: datetime
    promoted_at: datetime | None


class DecisionOut(BaseModel):
    kind: str
    action: str
    challenger_version: str | None
    champion_version: str | None
    reason: str
    created_at: datetime


class ModelsOut(BaseModel):
    champions: list[ChampionOut]
    versions: list[VersionOut]
    decisions: list[DecisionOut] = Field(description="The champion history, newest first.")


class QueueOut(BaseModel):
    pending_jobs: dict[str, int] = Field(description="pending, running, failed")


class DashboardState(BaseModel):
    tenant_id: str
    generated_at: datetime
    refresh_s: int = Field(description="How often the page reads this.")
    experiments: list[ExperimentOut]
    winners: WinnersOut
    changes: ChangesOut
    cycles: list[CycleOut]
    models: ModelsOut
    queue: QueueOut


def _snapshot(services: Services, tenant: str, limit: int) -> dict[str, Any]:
    limits = dashboard.Limits(rows=limit, arms=MAX_ARMS)
    with services.db.session() as s:
        return dashboard.snapshot(s, tenant_id=tenant, limits=limits)


@router.get("/api/dashboard/state", response_model=DashboardState)
async def state(
    services: ServicesDep,
    tenant: TenantDep,
    limit: int = Query(10, ge=1, le=50, description="Rows per list (experiments, changes…)."),
) -> DashboardState:
    """The caller's tenant's live state: experiments and their allocations, winners, ad
    changes by status, recent learning cycles, models (champions and their history) and the
    job queue, each list newest first."""
    snap = await asyncio.to_thread(_snapshot, services, tenant, limit)
    return DashboardState(**snap, refresh_s=REFRESH_S)
