"""``POST /api/pro/variants``: new versions of a creative from the tenant's winning patterns,
registered as ads (and, on request, as experiment arms). Inline (200) or, above
``batch.async_threshold`` variants or with ``mode: async``, a background job (202) polled at
``GET /api/pro/jobs/{id}`` whose results are the variants."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from core.db.pro_jobs import JobStore
from core.domain.sampler import ExperimentNotFound
from core.video import MediaRoots, get_video_config
from serve_apps.gateway.deps import ServicesDep, TenantDep
from serve_apps.gateway.errors import ApiError
from serve_apps.gateway.routes.pro import JobAccepted
from serve_apps.gateway.services import Services
from serve_apps.video.variants import (
    ArmsFn,
    RequestError,
    VariantsIn,
    check_request,
    generate,
    ray_runner,
    resolve_source,
)

router = APIRouter(prefix="/api/pro", tags=["pro"])


class VariantOut(BaseModel):
    index: int
    status: str = Field(description="success | failed")
    ad_id: str | None = Field(description="The registered ad (paused until published).")
    creative_id: str | None
    experiment_id: str | None
    output_path: str | None
    plan: dict[str, Any] = Field(
        description="What changed (`changes`), the values, clips, sizes and `why` per gene."
    )
    features: dict[str, float] = Field(description="creative_features of the output, by name.")
    video_features: list[float] = Field(description="The same as the vector stored.")
    error: str | None


class VariantsOut(BaseModel):
    status: str = Field(description="completed | partial | failed")
    source: dict[str, Any]
    patterns: dict[str, Any] = Field(description="What the plans followed (winners, rules).")
    variants: list[VariantOut]
    experiment_id: str | None
    arms_added: list[str]
    total: int
    successful: int


def _sampler(services: Services) -> ArmsFn:
    """Calls of the Thompson sampler actor, its refusals as 404 / 422."""

    async def call(method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return await services.sampler.call(method, *args, **kwargs)
        except ExperimentNotFound as exc:
            raise ApiError(404, "experiment not found") from exc
        except ValueError as exc:
            raise ApiError(422, str(getattr(exc, "cause", None) or exc)) from exc

    return call


def _api_error(exc: RequestError) -> ApiError:
    return ApiError(exc.status, exc.message, exc.details)


@router.post(
    "/variants",
    response_model=VariantsOut,
    responses={202: {"model": JobAccepted}, 400: {}, 404: {}, 422: {}},
)
async def variants(body: VariantsIn, services: ServicesDep, tenant: TenantDep) -> Any:
    """Plan, render and register ``n`` variants of a creative (an ad of yours or a video):
    each a different opening clip, hook caption, CTA end card, aspect ratio or length,
    following what your winners share."""
    settings, db = services.settings, services.db
    try:
        source = await asyncio.to_thread(resolve_source, db, settings, body, tenant)
        await asyncio.to_thread(check_request, db, settings, body, tenant, source)
    except RequestError as exc:
        raise _api_error(exc) from exc
    vc = get_video_config()
    if body.background(vc.batch.async_threshold):
        store = JobStore(db)
        request = {"kind": "variants", "body": body.model_dump(mode="json", exclude={"mode"})}
        job_id = await asyncio.to_thread(store.create, tenant, request, body.n)
        await services.actor("pro_video_jobs").call("submit", job_id)
        accepted = JobAccepted(
            job_id=job_id, status="queued", total=body.n, status_url=f"/api/pro/jobs/{job_id}"
        )
        return JSONResponse(accepted.model_dump(), status_code=status.HTTP_202_ACCEPTED)
    runner = ray_runner(
        MediaRoots.from_settings(settings),
        tenant=tenant,
        feature_dim=settings.memory.video_dim,
    )
    try:
        return await generate(
            body,
            tenant=tenant,
            db=db,
            settings=settings,
            runner=runner,
            sampler=_sampler(services),
            run_id=uuid.uuid4().hex,
            source=source,
        )
    except RequestError as exc:
        raise _api_error(exc) from exc
