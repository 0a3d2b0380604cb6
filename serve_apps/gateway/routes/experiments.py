"""Thompson-sampling experiments (SPEC §3.4): create, read, select, allocate.

Decisions go to the sampler actor (the single writer of experiment state); reads of an
experiment come from the database, where the actor keeps the arms' posteriors.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator, model_validator

from core.db import experiments as repo
from core.db.models import Experiment
from core.db.paging import BadCursor
from core.domain.sampler import ExperimentNotFound, SamplerConfig
from core.domain.thompson import InfeasibleAllocationError, posterior
from serve_apps.gateway.deps import PageDep, PageParams, ServicesDep, TenantDep
from serve_apps.gateway.errors import ApiError
from serve_apps.gateway.schemas import Money, Rate, Strict
from serve_apps.gateway.services import Services

router = APIRouter(prefix="/api/ml/experiments", tags=["experiments"])
log = logging.getLogger("adcluster.gateway.experiments")


@lru_cache(maxsize=1)
def sampler_config() -> SamplerConfig:
    return SamplerConfig.load()


class ExperimentCreate(Strict):
    ad_ids: list[str] = Field(min_length=2, description="The arms: ads of this tenant.")
    name: str | None = Field(None, max_length=300)
    metric: Literal["ctr", "cvr", "conversion"] | None = Field(
        None,
        description="ctr: clicks/impressions; cvr: conversions/clicks; "
        "conversion: conversions/impressions. Default from configs/sampler.yaml.",
    )
    prior_alpha: float | None = Field(None, gt=0)
    prior_beta: float | None = Field(None, gt=0)
    decay_half_life_h: float | None = Field(
        None, gt=0, description="Half-life of old evidence in hours; none: no decay."
    )

    @field_validator("ad_ids")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if any(not 1 <= len(a) <= 128 for a in v):
            raise ValueError("ad ids must be 1 to 128 characters")
        if len(set(v)) != len(v):
            raise ValueError("ad_ids must be unique")
        return v


class ArmPublic(BaseModel):
    ad_id: str
    alpha: float = Field(description="Beta posterior as of now (decayed when configured).")
    beta: float
    mean: Rate = Field(description="Posterior mean of the success rate.")
    trials: int = Field(description="Cumulative trials in the last snapshot folded in.")
    successes: int
    observed_at: datetime | None


class AllocationArm(BaseModel):
    ad_id: str
    amount: Money = Field(description="Whole cents; the amounts add up to the budget.")
    share: Rate
    prob_best: Rate


class Allocation(BaseModel):
    total_budget: Money
    min_share: Rate
    max_share: Rate
    n_draws: int
    arms: list[AllocationArm]


class EventPublic(BaseModel):
    kind: str
    payload: dict[str, Any]
    created_at: datetime


class ExperimentSummary(BaseModel):
    experiment_id: str
    name: str | None
    metric: str
    prior_alpha: float
    prior_beta: float
    decay_half_life_h: float | None
    status: str
    created_at: datetime


class ExperimentPage(BaseModel):
    data: list[ExperimentSummary] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: done.")


class ExperimentPublic(ExperimentSummary):
    arms: list[ArmPublic]
    allocation: Allocation | None = Field(description="The latest allocation, if any.")
    history: list[EventPublic] = Field(description="Newest events first.")


class SelectIn(Strict):
    n: int = Field(1, ge=1, description="Number of Thompson draws (batched in one call).")


class SelectOut(BaseModel):
    experiment_id: str
    ad_id: str = Field(description="The first choice.")
    selections: list[str]


class AllocateIn(Strict):
    total_budget: float = Field(ge=0)
    min_share: float | None = Field(None, ge=0, le=1)
    max_share: float | None = Field(None, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> AllocateIn:
        if None not in (self.min_share, self.max_share) and self.min_share > self.max_share:
            raise ValueError("min_share must not exceed max_share")
        return self


class AllocateOut(Allocation):
    experiment_id: str


def _cause(exc: BaseException) -> BaseException:
    """The exception raised inside the actor (Ray wraps it)."""
    return getattr(exc, "cause", None) or exc


INFEASIBLE = (
    "min_share and max_share cannot both be met: the arms' shares add up to 1, so "
    "min_share x arms must be <= 1 <= max_share x arms"
)


def _domain_error(exc: ValueError) -> ApiError:
    """A clear 4xx for what the sampler refused (never its internal text)."""
    cause = _cause(exc)
    if isinstance(cause, ExperimentNotFound):
        return ApiError(404, "experiment not found")
    if isinstance(cause, InfeasibleAllocationError):
        return ApiError(422, INFEASIBLE)
    log.warning("sampler refused a request", extra={"error": type(cause).__name__})
    return ApiError(422, "the experiment cannot take this request")


async def _ask(services: Services, method: str, *args: Any, **kwargs: Any) -> Any:
    try:
        return await services.sampler.call(method, *args, **kwargs)
    except (ExperimentNotFound, ValueError) as exc:
        raise _domain_error(exc) from exc


def _read(services: Services, tenant: str, experiment_id: str) -> ExperimentPublic:
    limit = sampler_config().limits.history_events
    with services.db.session() as s:
        exp = repo.get_experiment(s, tenant_id=tenant, experiment_id=experiment_id)
        if exp is None:
            raise ApiError(404, "experiment not found")
        key = {"tenant_id": tenant, "experiment_id": experiment_id}
        arms = repo.list_arms(s, **key)
        events = repo.recent_events(s, **key, limit=limit)
        last = repo.latest_event(s, **key, kind="allocation")
    at = np.array([a.observed_at.timestamp() if a.observed_at else np.nan for a in arms])
    alpha, beta = posterior(
        np.array([a.alpha - exp.prior_alpha for a in arms]),
        np.array([a.beta - exp.prior_beta for a in arms]),
        at,
        prior_alpha=exp.prior_alpha,
        prior_beta=exp.prior_beta,
        half_life_h=exp.decay_half_life_h,
        now=time.time(),
    )
    return ExperimentPublic(
        **_summary(exp).model_dump(),
        arms=[
            ArmPublic(
                ad_id=arm.ad_id,
                alpha=a,
                beta=b,
                mean=a / (a + b),
                trials=arm.trials,
                successes=arm.successes,
                observed_at=arm.observed_at,
            )
            for arm, a, b in zip(arms, alpha.tolist(), beta.tolist(), strict=True)
        ],
        allocation=Allocation(**last.payload) if last else None,
        history=[
            EventPublic(kind=e.kind, payload=e.payload, created_at=e.created_at) for e in events
        ],
    )


def _summary(exp: Experiment) -> ExperimentSummary:
    return ExperimentSummary.model_validate(exp, from_attributes=True)


def _list(services: Services, tenant: str, page: PageParams) -> ExperimentPage:
    try:
        with services.db.session() as s:
            rows = repo.list_experiments(s, tenant_id=tenant, limit=page.limit, cursor=page.cursor)
            return ExperimentPage(
                data=[_summary(e) for e in rows.items], next_cursor=rows.next_cursor
            )
    except BadCursor as exc:
        raise ApiError(422, "invalid cursor: pass the next_cursor of a previous page") from exc


def _missing_ads(services: Services, tenant: str, ad_ids: list[str]) -> list[str]:
    with services.db.session() as s:
        return repo.missing_ads(s, tenant_id=tenant, ad_ids=ad_ids)


@router.post("", response_model=ExperimentPublic, status_code=201)
async def create_experiment(
    body: ExperimentCreate, services: ServicesDep, tenant: TenantDep
) -> ExperimentPublic:
    """Create an experiment over ads of this tenant; arms start from the ads' history."""
    max_arms = sampler_config().limits.max_arms
    if len(body.ad_ids) > max_arms:
        raise ApiError(422, f"too many arms: {len(body.ad_ids)}, limit {max_arms}")
    missing = await asyncio.to_thread(_missing_ads, services, tenant, body.ad_ids)
    if missing:
        raise ApiError(404, "unknown ad", {"ad_ids": missing})
    experiment_id = await _ask(
        services,
        "create_experiment",
        tenant_id=tenant,
        ad_ids=body.ad_ids,
        name=body.name,
        metric=body.metric,
        prior_alpha=body.prior_alpha,
        prior_beta=body.prior_beta,
        half_life_h=body.decay_half_life_h,
    )
    return await asyncio.to_thread(_read, services, tenant, experiment_id)


@router.get("", response_model=ExperimentPage)
async def list_experiments(
    services: ServicesDep, tenant: TenantDep, page: PageDep
) -> ExperimentPage:
    """This tenant's experiments, newest first, a page at a time (`limit`, `cursor`)."""
    return await asyncio.to_thread(_list, services, tenant, page)


@router.get("/{experiment_id}", response_model=ExperimentPublic)
async def get_experiment(
    experiment_id: str, services: ServicesDep, tenant: TenantDep
) -> ExperimentPublic:
    """Posteriors of every arm, the latest allocation and recent history."""
    return await asyncio.to_thread(_read, services, tenant, experiment_id)


@router.post("/{experiment_id}/select", response_model=SelectOut)
async def select_arm(
    experiment_id: str, services: ServicesDep, tenant: TenantDep, body: SelectIn | None = None
) -> SelectOut:
    """Thompson choice of an arm (``n`` choices in one call)."""
    n = body.n if body else 1
    limit = sampler_config().limits.max_select_batch
    if n > limit:
        raise ApiError(422, f"n must be <= {limit}", {"n": n, "limit": limit})
    picks = await _ask(services, "select", tenant, experiment_id, n)
    return SelectOut(experiment_id=experiment_id, ad_id=picks[0], selections=picks)


@router.post("/{experiment_id}/allocate", response_model=AllocateOut)
async def allocate_budget(
    experiment_id: str, body: AllocateIn, services: ServicesDep, tenant: TenantDep
) -> AllocateOut:
    """Split ``total_budget`` by each arm's probability of being best, within share bounds."""
    result = await _ask(
        services,
        "allocate",
        tenant,
        experiment_id,
        total_budget=body.total_budget,
        min_share=body.min_share,
        max_share=body.max_share,
    )
    return AllocateOut(experiment_id=experiment_id, **result)
