"""Performance feedback in: stored, winner-checked by the database trigger, fed to the sampler."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter

from core.db.feedback import FeedbackResult, FeedbackRow, record_feedback
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
    with services.db.session() as s:
        return record_feedback(s, rows, tenant_id=tenant, rule=services.settings.winner)


def _notify(services: Services, results: list[FeedbackResult], tenant: str) -> None:
    """After commit: one call to the sampler, a wake-up for the job consumer.

    Fire and forget: both rebuild from the database, so a lost message loses nothing.
    """
    sampler = services.actors.get("thompson_sampler")
    if sampler is not None:
        sampler.tell(
            "record_feedback_many",
            [
                {
                    "tenant_id": tenant,
                    "ad_id": r.ad_id,
                    "impressions": r.impressions,
                    "clicks": r.clicks,
                    "conversions": r.conversions,
                    "observed_at": r.observed_at.isoformat(),
                }
                for r in results
            ],
        )
    consumer = services.actors.get("job_consumer")
    if consumer is not None and any(r.winner for r in results):
        consumer.tell("wake")


@router.post("/feedback", response_model=FeedbackOut)
async def post_feedback(body: FeedbackIn, services: ServicesDep, tenant: TenantDep) -> FeedbackOut:
    """Store one feedback row; say whether the ad is a winner and which job indexes it."""
    (result,) = await asyncio.to_thread(_store, services, [body], tenant)
    _notify(services, [result], tenant)
    return FeedbackOut.model_validate(result, from_attributes=True)


@router.post("/feedback/batch", response_model=FeedbackBatchOut)
async def post_feedback_batch(
    body: FeedbackBatchIn, services: ServicesDep, tenant: TenantDep
) -> FeedbackBatchOut:
    """Store many rows in one transaction (all or nothing)."""
    limit = services.settings.api.max_batch_rows
    if len(body.items) > limit:
        raise ApiError(413, f"batch too large: {len(body.items)} rows, limit {limit}")
    results = await asyncio.to_thread(_store, services, body.items, tenant)
    _notify(services, results, tenant)
    job_ids = sorted({r.job_id for r in results if r.job_id is not None})
    return FeedbackBatchOut(
        accepted=len(results), winners=sum(r.winner for r in results), job_ids=job_ids
    )
