"""Performance feedback in: stored, winner-checked by the database trigger, fed to the sampler."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter

from core.db.feedback import FeedbackResult, FeedbackRow, record_feedback
from serve_apps.gateway.deps import ServicesDep, TenantDep
from serve_apps.gateway.errors import ApiError
from serve_apps.gateway.feedback_writer import notify_feedback
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
    with services.db.engine.begin() as conn:
        return record_feedback(conn, rows, tenant_id=tenant, rule=services.settings.winner)


async def store_feedback(services: Services, tenant: str, body: FeedbackIn) -> FeedbackOut:
    """Store one row through the replica's group commit; the answer after its commit."""
    row = FeedbackRow(**body.model_dump())
    result = await services.feedback_writer.submit((tenant, row))
    return FeedbackOut.model_validate(result, from_attributes=True)


@router.post("/feedback", response_model=FeedbackOut)
async def post_feedback(body: FeedbackIn, services: ServicesDep, tenant: TenantDep) -> FeedbackOut:
    """Store one feedback row; say whether the ad is a winner and which job indexes it.

    The row is committed with the other requests that arrive meanwhile (group commit,
    ``services.feedback_writer``) and answered only after that commit. (A valid JSON body
    is served by ``serve_apps.gateway.feedback_asgi`` without the framework's layers, with
    this same function; this route answers everything else, errors included.)
    """
    return await store_feedback(services, tenant, body)


@router.post("/feedback/batch", response_model=FeedbackBatchOut)
async def post_feedback_batch(
    body: FeedbackBatchIn, services: ServicesDep, tenant: TenantDep
) -> FeedbackBatchOut:
    """Store many rows in one transaction (all or nothing)."""
    limit = services.settings.api.max_batch_rows
    if len(body.items) > limit:
        raise ApiError(413, f"batch too large: {len(body.items)} rows, limit {limit}")
    results = await asyncio.to_thread(_store, services, body.items, tenant)
    notify_feedback(services, [(tenant, r) for r in results])
    job_ids = sorted({r.job_id for r in results if r.job_id is not None})
    return FeedbackBatchOut(
        accepted=len(results), winners=sum(r.winner for r in results), job_ids=job_ids
    )
