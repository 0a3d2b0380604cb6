"""Performance feedback in: stored, winner-checked by the database trigger, fed to the sampler."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter

from core.db.feedback import FeedbackResult, FeedbackRow, ForeignAdError, record_feedback
from core.domain.winner import Thresholds
from serve_apps.gateway.deps import ServicesDep, TenantDep
from serve_apps.gateway.errors import ApiError
from serve_apps.gateway.schemas import (
    FeedbackBatchIn,
    FeedbackBatchOut,
    FeedbackIn,
    FeedbackOut,
)
from serve_apps.gateway.services import Services

router = APIRouter(prefix="/api/ml", tags=["feedback"])
log = logging.getLogger("adcluster.gateway.feedback")


def _store(services: Services, items: list[FeedbackIn], tenant: str) -> list[FeedbackResult]:
    rows = [FeedbackRow(**item.model_dump()) for item in items]
    rule = Thresholds(**services.settings.winner.model_dump())
    try:
        with services.db.session() as s:
            return record_feedback(s, rows, tenant_id=tenant, rule=rule)
    except ForeignAdError as exc:
        raise ApiError(404, "unknown ad", {"ad_ids": exc.ad_ids}) from exc


def _notify(services: Services, items: list[FeedbackIn], tenant: str) -> None:
    """After commit: tell the sampler (restart-safe: it rebuilds from the database)."""
    sampler = services.actors.get("sampler")
    if sampler is not None:
        for item in items:
            observed = item.observed_at.isoformat() if item.observed_at else None
            sampler.tell(
                "record_feedback",
                tenant_id=tenant,
                ad_id=item.ad_id,
                impressions=item.impressions,
                clicks=item.clicks,
                conversions=item.conversions,
                observed_at=observed,
            )
    consumer = services.actors.get("job_consumer")
    if consumer is not None:
        consumer.tell("wake")


@router.post("/feedback", response_model=FeedbackOut)
async def post_feedback(body: FeedbackIn, services: ServicesDep, tenant: TenantDep) -> FeedbackOut:
    """Store one feedback row; say whether the ad is a winner and which job indexes it."""
    (result,) = await asyncio.to_thread(_store, services, [body], tenant)
    _notify(services, [body], tenant)
    return FeedbackOut(**result.__dict__)


@router.post("/feedback/batch", response_model=FeedbackBatchOut)
async def post_feedback_batch(
    body: FeedbackBatchIn, services: ServicesDep, tenant: TenantDep
) -> FeedbackBatchOut:
    """Store many rows in one transaction (all or nothing)."""
    limit = services.settings.api.max_batch_rows
    if len(body.items) > limit:
        raise ApiError(413, f"batch too large: {len(body.items)} rows, limit {limit}")
    results = await asyncio.to_thread(_store, services, body.items, tenant)
    _notify(services, body.items, tenant)
    job_ids = sorted({r.job_id for r in results if r.job_id is not None})
    return FeedbackBatchOut(
        accepted=len(results), winners=sum(r.winner for r in results), job_ids=job_ids
    )
