"""Rule-based predictions: blended ROAS (SPEC §3.2) and pipeline value (SPEC §3.3).

Computed in the handler from ``core.domain`` and ``configs/`` (no actor hop).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from core.db.prediction_log import prediction_row
from core.domain.pipeline import (
    Deal,
    PipelineCatalog,
    UnknownPipelineError,
    UnknownStageError,
    value_pipeline,
)
from core.domain.roas import RoasConfig, predict_roas
from serve_apps.gateway.deps import ServicesDep, TenantDep
from serve_apps.gateway.errors import ApiError
from serve_apps.gateway.schemas import AdId, Money, Rate, Roas, Strict

router = APIRouter(prefix="/api/ml/predict", tags=["predict"])


@lru_cache(maxsize=1)
def roas_config() -> RoasConfig:
    return RoasConfig.load()


@lru_cache(maxsize=1)
def pipeline_catalog() -> PipelineCatalog:
    return PipelineCatalog.load()


class RoasIn(Strict):
    ad_id: str = AdId
    current_ctr: float = Field(ge=0, le=1)
    current_roas: float = Field(ge=0, le=1e6)
    hours_live: float = Field(ge=0, le=1e6)
    daily_spend: float = Field(ge=0, le=1e12)
    days_forward: int = Field(7, ge=1, le=90)


class RoasOut(BaseModel):
    ad_id: str
    predicted_roas: Roas
    projected_spend: Money
    projected_revenue: Money
    projected_profit: Money
    days_forward: int
    confidence: Literal["low", "medium", "high"]


class DealIn(Strict):
    model_config = ConfigDict(coerce_numbers_to_str=True)

    id: str = Field(min_length=1, max_length=128, description="Deal id (numbers accepted).")
    stage: str = Field(min_length=1, max_length=100)
    amount: float = Field(ge=0, le=1e15)


class PipelineIn(Strict):
    deals: list[DealIn] = Field(min_length=1)
    pipeline: str | None = Field(
        None, min_length=1, max_length=100, description="Stage template; the default if absent."
    )


class DealOut(BaseModel):
    deal_id: str
    stage: str
    amount: Money
    expected_value: Money
    probability: Rate
    predicted_close_days: float
    synthetic_value: Money


class CreativeFeaturesIn(Strict):
    """A creative's raw features (any may be absent; see docs/training.md)."""

    ad_id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")
    video_features: list[float] | None = Field(None, max_length=4096)
    hook_text: str | None = Field(None, max_length=2000)
    cta: str | None = Field(None, max_length=200)
    template: str | None = Field(None, max_length=200)


class CtrIn(Strict):
    creatives: list[CreativeFeaturesIn] = Field(min_length=1, description="One or many.")


class CtrPrediction(BaseModel):
    ad_id: str | None
    predicted_ctr: Rate


class CtrOut(BaseModel):
    model_version: str
    predictions: list[CtrPrediction]


class PipelineOut(BaseModel):
    deals: list[DealOut]
    total_pipeline_value: Money
    deal_count: int
    avg_probability: Rate


_NOT_AD_ID = frozenset({"ad_id"})  # the log's inputs and output: the row has its own ad_id


@router.post("/roas", response_model=RoasOut)
async def predict_roas_route(body: RoasIn, services: ServicesDep, tenant: TenantDep) -> RoasOut:
    """Blend CTR-implied and observed ROAS by hours live; project spend, revenue, profit.

    The answer is written to ``prediction_log`` behind the response (never delaying it).
    """
    config = roas_config()
    f = predict_roas(
        current_ctr=body.current_ctr,
        current_roas=body.current_roas,
        hours_live=body.hours_live,
        daily_spend=body.daily_spend,
        days_forward=body.days_forward,
        config=config,
    )
    out = RoasOut(
        ad_id=body.ad_id,
        predicted_roas=f.predicted_roas,
        projected_spend=f.projected_spend,
        projected_revenue=f.projected_revenue,
        projected_profit=f.projected_profit,
        days_forward=f.days_forward,
        confidence=f.confidence,
    )
    if services.prediction_log is not None and services.log_predictions:
        services.prediction_log.submit(
            prediction_row(
                tenant_id=tenant,
                kind="roas",
                ad_id=body.ad_id,
                model_version=config.version,
                inputs=body.model_dump_json(exclude=_NOT_AD_ID),
                output=out.model_dump_json(exclude=_NOT_AD_ID),
            )
        )
    return out


@router.post("/ctr", response_model=CtrOut)
async def predict_ctr(body: CtrIn, services: ServicesDep, tenant: TenantDep) -> CtrOut:
    """CTR of each creative from the tenant's champion model; the answer names the model
    version used. Concurrent requests go to the CtrModel deployment together (one call per
    group, ``CtrClient``) and are scored there in one model call (``@serve.batch``). Each
    prediction is written to ``prediction_log`` (kind ``ctr``) behind the response."""
    limit = services.settings.api.max_batch_rows
    if len(body.creatives) > limit:
        raise ApiError(413, f"too many creatives: {len(body.creatives)}, limit {limit}")
    client = services.extras.get("ctr_model")
    if client is None:
        raise ApiError(503, "CTR model deployment unavailable")
    rows = [c.model_dump(exclude={"ad_id"}) for c in body.creatives]
    result = await client.score(tenant, rows)
    if "error" in result:
        raise ApiError(
            503, "no CTR model trained yet", {"hint": "POST /api/ml/train/ctr, then retry"}
        )
    version = result["model_version"]
    out = CtrOut(
        model_version=version,
        predictions=[
            CtrPrediction(ad_id=c.ad_id, predicted_ctr=p)
            for c, p in zip(body.creatives, result["predictions"], strict=True)
        ],
    )
    if services.prediction_log is not None and services.log_predictions:
        for c, row, p in zip(body.creatives, rows, out.predictions, strict=True):
            services.prediction_log.submit(
                prediction_row(
                    tenant_id=tenant,
                    kind="ctr",
                    ad_id=c.ad_id,
                    model_version=version,
                    inputs=row,
                    output={"predicted_ctr": p.predicted_ctr},
                )
            )
    return out


@router.post("/pipeline", response_model=PipelineOut)
async def predict_pipeline(
    body: PipelineIn, services: ServicesDep, tenant: TenantDep
) -> PipelineOut:
    """Expected value of each deal from its stage's close probability."""
    limit = services.settings.api.max_batch_rows
    if len(body.deals) > limit:
        raise ApiError(413, f"too many deals: {len(body.deals)}, limit {limit}")
    catalog = pipeline_catalog()
    try:
        pipeline = catalog.get(body.pipeline, tenant_id=tenant)
        result = value_pipeline((Deal(d.id, d.stage, d.amount) for d in body.deals), pipeline)
    except UnknownPipelineError as exc:
        raise ApiError(422, str(exc), {"pipeline": exc.name, "known_pipelines": exc.known}) from exc
    except UnknownStageError as exc:
        details = {"stages": exc.stages, "known_stages": exc.known, "pipeline": exc.pipeline}
        raise ApiError(422, str(exc), details) from exc
    return PipelineOut(
        deals=[DealOut(**d.__dict__) for d in result.deals],
        total_pipeline_value=result.total_pipeline_value,
        deal_count=result.deal_count,
        avg_probability=result.avg_probability,
    )
