"""The variant generator on Ray: check a request, profile the source, plan from the tenant's
winning patterns, render every plan with operation tasks, register each variant as an ad and,
on request, as an arm of an experiment.

Used by ``POST /api/pro/variants`` (inline or as a background job of the ``pro_video_jobs``
actor) and by ``adcluster video variants``. The planning and rendering are in
``core/video/variants.py`` and ``core/video/variant_render.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import ray
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.db import ads as ads_db
from core.db import experiments as exp_db
from core.db.engine import Database
from core.learning.patterns import WinningPatterns, read_patterns
from core.settings import Settings
from core.video import MediaRoots, VideoError, get_video_config, validate_operation
from core.video.assets import resolve_media
from core.video.frames import parse_aspect
from core.video.safety import own_outputs, resolve_input
from core.video.variant_render import (
    RenderedVariant,
    Runner,
    StepFailed,
    analyse,
    render_variants,
)
from core.video.variants import (
    STANDARD_ASPECTS,
    Overrides,
    PlanError,
    VariantPlan,
    plan_variants,
)
from serve_apps.video.tasks import RunContext, cluster_has_gpu, crashed, submit

log = logging.getLogger("adcluster.variants")
LOGO = ("logo", "image")  # asset kinds an end-card logo may be


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VariantOverrides(_Strict):
    """Values to use instead of the patterns' candidates (each list replaces one gene's)."""

    hooks: list[str] = Field(default_factory=list, max_length=20)
    ctas: list[str] = Field(default_factory=list, max_length=20)
    aspects: list[str] = Field(default_factory=list, max_length=10)
    durations_s: list[float] = Field(default_factory=list, max_length=10)
    transition: str | None = Field(None, description="cut, or a timeline transition name.")

    @field_validator("hooks")
    @classmethod
    def _hooks(cls, v: list[str]) -> list[str]:
        if any(not 1 <= len(h.strip()) <= 500 for h in v):
            raise ValueError("each hook is 1 to 500 characters")
        return [h.strip() for h in v]

    @field_validator("ctas")
    @classmethod
    def _ctas(cls, v: list[str]) -> list[str]:
        if any(not 1 <= len(c.strip()) <= 120 for c in v):
            raise ValueError("each CTA is 1 to 120 characters")
        return [c.strip() for c in v]

    @field_validator("aspects")
    @classmethod
    def _aspects(cls, v: list[str]) -> list[str]:
        for a in v:
            parse_aspect(a)
        return v

    @field_validator("durations_s")
    @classmethod
    def _durations(cls, v: list[float]) -> list[float]:
        if any(not 0.5 <= d <= 600 for d in v):
            raise ValueError("each duration is 0.5 to 600 seconds")
        return v

    @field_validator("transition")
    @classmethod
    def _transition(cls, v: str | None) -> str | None:
        known = get_video_config().timeline.transitions
        if v is not None and v != "cut" and v not in known:
            raise ValueError(f"unknown transition {v!r}; known: {['cut', *sorted(known)]}")
        return v


class VariantsIn(_Strict):
    """Exactly one source: ``ad_id`` (its creative's video, hook text and CTA) or
    ``video_path`` (inside the media root, or one of your outputs by absolute path)."""

    ad_id: str | None = Field(None, min_length=1, max_length=128)
    video_path: str | None = Field(None, min_length=1, max_length=1024)
    n: int = Field(3, ge=1, description="How many variants (at most variants.max_n).")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Same seed, same plans.")
    hook_text: str | None = Field(None, max_length=500, description="The source's hook text.")
    cta: str | None = Field(None, max_length=120, description="The source's CTA.")
    experiment_id: str | None = Field(
        None, min_length=1, max_length=128, description="Add the variants as its arms."
    )
    create_experiment: bool = Field(
        False, description="A new experiment over the source ad (if any) and the variants."
    )
    experiment_name: str | None = Field(None, max_length=300)
    overrides: VariantOverrides = Field(default_factory=VariantOverrides)
    logo: str | dict[str, str] | None = Field(
        None, description="End-card logo: a media path, 'asset:<id>' or {'asset_id': ...}."
    )
    mode: Literal["auto", "sync", "async"] = Field(
        "auto",
        description="sync: answer when done (200); async: 202 and a job id; auto: async "
        "above batch.async_threshold variants.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> VariantsIn:
        if (self.ad_id is None) == (self.video_path is None):
            raise ValueError("give exactly one of ad_id or video_path")
        if self.experiment_id is not None and self.create_experiment:
            raise ValueError("give experiment_id or create_experiment, not both")
        limit = get_video_config().variants.max_n
        if self.n > limit:
            raise ValueError(f"n must be at most {limit}")
        return self

    def background(self, threshold: int) -> bool:
        """Whether to answer 202 and run as a background job."""
        return self.mode == "async" or (self.mode == "auto" and self.n > threshold)


class RequestError(Exception):
    """A request the generator refuses before rendering: ``status`` (400/404/422), a short
    message and details (the gateway answers with them)."""

    def __init__(self, status: int, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.message, self.details = status, message, details


@dataclass(frozen=True)
class Source:
    """The resolved source: its path for the operations, its ad (if any) and copy."""

    video_path: str
    ad_id: str | None
    name: str  # the stem of the variants' ad ids
    hook_text: str | None
    cta: str | None
    template: str | None
    platform: str | None
    campaign_id: str | None


# --- the host's parts -------------------------------------------------------------------
ArmsFn = Callable[..., Awaitable[Any]]  # sampler method call: (method, *args, **kwargs)


def ray_runner(roots: MediaRoots, *, tenant: str, feature_dim: int) -> Runner:
    """Each operation as a task of ``serve_apps/video/tasks.py`` (declared resources)."""
    has_gpu = cluster_has_gpu()

    async def run(
        op_type: str, video_path: str, config: dict[str, Any], work_dir: Path, step: int
    ) -> dict[str, Any]:
        ctx = RunContext(roots=roots, output_dir=work_dir, feature_dim=feature_dim, tenant=tenant)
        try:
            return await submit(op_type, video_path, config, ctx, step, has_gpu=has_gpu)
        except (ray.exceptions.RayError, OSError) as exc:
            return crashed(op_type, video_path, exc)

    return run


def run_dir(settings: Settings, tenant: str, run_id: str) -> Path:
    """Where a run writes: ``<output_root>/<tenant>/variants/<run id>``."""
    return own_outputs(MediaRoots.from_settings(settings), tenant) / "variants" / run_id


# --- checks before any work ---------------------------------------------------------------
def resolve_source(db: Database, settings: Settings, body: VariantsIn, tenant: str) -> Source:
    """The source of ``body``, or :class:`RequestError` (404 unknown ad, 422 an ad without a
    video, 400 a path outside the media root and the tenant's outputs)."""
    roots = MediaRoots.from_settings(settings)
    facts: dict[str, Any] = {}
    path = body.video_path
    if body.ad_id is not None:
        with db.session() as s:
            ad = ads_db.get_ad(s, tenant, body.ad_id)
            if ad is None:
                raise RequestError(404, "unknown ad", {"ad_id": body.ad_id})
            creative = ads_db.get_creative(s, ad)
            facts = {"platform": ad.platform, "campaign_id": ad.campaign_id}
            if creative is not None:
                facts |= {
                    k: getattr(creative, k) for k in ("video_path", "hook_text", "cta", "template")
                }
        path = facts.get("video_path")
        if not path:
            raise RequestError(422, "the ad's creative has no video_path", {"ad_id": body.ad_id})
    assert path is not None
    try:
        resolved = resolve_input(roots, path, tenant)
    except VideoError as exc:
        raise RequestError(400, "video_path must be inside the media root", str(exc)) from None
    return Source(
        video_path=str(resolved),
        ad_id=body.ad_id,
        name=re.sub(r"[^A-Za-z0-9_.-]", "_", body.ad_id or resolved.stem)[:96],
        hook_text=body.hook_text or facts.get("hook_text"),
        cta=body.cta or facts.get("cta"),
        template=facts.get("template"),
        platform=facts.get("platform"),
        campaign_id=facts.get("campaign_id"),
    )


def check_request(
    db: Database, settings: Settings, body: VariantsIn, tenant: str, source: Source
) -> None:
    """The experiment exists and is active (404), enough arms for a new one and a valid
    end-card logo (422)."""
    if body.experiment_id is not None:
        with db.session() as s:
            exp = exp_db.get_experiment(s, tenant_id=tenant, experiment_id=body.experiment_id)
            if exp is None or exp.status != "active":
                raise RequestError(404, "unknown experiment", {"experiment_id": body.experiment_id})
    if body.create_experiment and body.n + (source.ad_id is not None) < 2:
        raise RequestError(422, "an experiment needs at least 2 arms: ask for n >= 2")
    if body.logo is not None:
        roots = MediaRoots.from_settings(settings)
        card = {"type": "end_card", "cta": "x", "logo": body.logo}
        try:
            validate_operation(
                "motion_graphics", source.video_path, {"layers": [card]}, roots, tenant
            )
            logo = resolve_media(roots.media_root, tenant, body.logo, field="logo", kinds=LOGO)
        except VideoError as exc:
            raise RequestError(422, "invalid logo", str(exc)) from None
        if not logo.is_file():
            raise RequestError(422, "invalid logo", "logo: file not found")


# --- the run --------------------------------------------------------------------------------
def variant_ad_id(source: Source, plan: VariantPlan) -> str:
    """A stable id per (source, plan): the same plan of the same source is the same ad."""
    key = "|".join(
        str(x)
        for x in (
            source.ad_id or source.video_path,
            plan.hook.start,
            plan.hook.end,
            plan.caption.lower(),
            plan.cta.lower(),
            plan.aspect,
            round(plan.duration_s, 3),
            plan.transition,
        )
    )
    return f"{source.name}-v{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def register(db: Database, tenant: str, source: Source, v: RenderedVariant) -> tuple[str, str]:
    """A rendered variant as a paused ad with its creative (features included): its ad id
    and creative id."""
    ad_id = variant_ad_id(source, v.plan)
    creative_id = f"cr-{ad_id}"
    with db.session() as s:
        ads_db.upsert_ad(
            s,
            tenant_id=tenant,
            ad_id=ad_id,
            creative=ads_db.CreativeSpec(
                creative_id=creative_id,
                video_path=v.output_path,
                hook_text=v.plan.caption,
                cta=v.plan.cta,
                template=source.template,
                video_features=v.vector,
            ),
            name=f"{source.name} variant {v.plan.index} ({', '.join(v.plan.changes)})"[:300],
            platform=source.platform,
            campaign_id=source.campaign_id,
            status="paused",
        )
    return ad_id, creative_id


def variant_result(
    v: RenderedVariant, ids: tuple[str, str] | None, experiment_id: str | None
) -> dict[str, Any]:
    """One variant as answered (and stored by a background job)."""
    return {
        "index": v.plan.index,
        "status": v.status,
        "ad_id": ids[0] if ids else None,
        "creative_id": ids[1] if ids else None,
        "experiment_id": experiment_id if ids else None,
        "output_path": v.output_path,
        "plan": v.plan.to_dict(),
        "features": {k: round(x, 6) for k, x in v.features.items()},
        "video_features": v.vector,
        "error": v.error,
    }


async def generate(
    body: VariantsIn,
    *,
    tenant: str,
    db: Database,
    settings: Settings,
    runner: Runner,
    sampler: ArmsFn | None,
    run_id: str,
    source: Source | None = None,
    on_variant: Callable[[int, dict[str, Any]], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """Plan, render and register ``body``'s variants; the answer of ``POST
    /api/pro/variants``. ``sampler(method, *args, **kwargs)`` calls the Thompson sampler
    actor (None: no experiment work possible). Raises :class:`RequestError`."""
    vc = get_video_config()
    cfg = vc.variants
    if source is None:
        source = await asyncio.to_thread(resolve_source, db, settings, body, tenant)
        await asyncio.to_thread(check_request, db, settings, body, tenant, source)
    if (body.experiment_id or body.create_experiment) and sampler is None:
        raise RequestError(422, "experiments need the Thompson sampler (run on Ray)")
    out_dir = run_dir(settings, tenant, run_id)
    try:
        profile = await analyse(
            runner,
            source.video_path,
            out_dir / "source",
            max_hook_s=cfg.max_hook_s,
            hook_text=source.hook_text,
            cta=source.cta,
        )
    except StepFailed as exc:
        raise RequestError(422, "the source video cannot be analysed", str(exc)) from None

    def patterns() -> WinningPatterns:
        with db.session() as s:
            return read_patterns(
                s,
                tenant,
                max_winners=cfg.max_winners,
                aspects=sorted({*STANDARD_ASPECTS, *cfg.aspects}),
                max_choices=cfg.max_candidates,
            )

    found = await asyncio.to_thread(patterns)
    o = body.overrides
    try:
        plans = plan_variants(
            profile,
            found,
            n=body.n,
            seed=body.seed,
            cfg=cfg,
            overrides=Overrides(
                tuple(o.hooks), tuple(o.ctas), tuple(o.aspects), tuple(o.durations_s), o.transition
            ),
            transition_names=tuple(vc.timeline.transitions),
        )
    except PlanError as exc:
        raise RequestError(422, str(exc)) from None
    names = [variant_ad_id(source, p) for p in plans]
    log.info(
        "variants planned",
        extra={"tenant": tenant, "source": source.name, "n": len(plans), "winners": found.winners},
    )

    ids: dict[int, tuple[str, str]] = {}

    async def done(i: int, v: RenderedVariant) -> None:  # registered as each one ends
        if v.status == "success":
            ids[i] = await asyncio.to_thread(register, db, tenant, source, v)
        if on_variant is not None:
            await on_variant(i, variant_result(v, ids.get(i), None))

    rendered = await render_variants(
        runner, source.video_path, plans, names, out_dir, cfg, logo=body.logo, on_done=done
    )
    experiment_id, added = await _experiment(body, tenant, source, ids, sampler)
    results = [variant_result(v, ids.get(i), experiment_id) for i, v in enumerate(rendered)]
    if on_variant is not None and experiment_id is not None:
        for i, r in enumerate(results):
            await on_variant(i, r)
    ok = sum(r["status"] == "success" for r in results)
    return {
        "status": "completed" if ok == len(results) else ("failed" if ok == 0 else "partial"),
        "source": {
            "ad_id": source.ad_id,
            "video_path": source.video_path,
            "width": profile.width,
            "height": profile.height,
            "fps": profile.fps,
            "frames": profile.frame_count,
            "duration_s": round(profile.duration_s, 3),
            "aspect": profile.aspect,
            "hook_text": source.hook_text,
            "cta": source.cta,
            "scenes": len(profile.scenes),
        },
        "patterns": found.to_dict(),
        "variants": results,
        "experiment_id": experiment_id,
        "arms_added": added,
        "total": len(results),
        "successful": ok,
    }


async def _experiment(
    body: VariantsIn,
    tenant: str,
    source: Source,
    ids: dict[int, tuple[str, str]],
    sampler: ArmsFn | None,
) -> tuple[str | None, list[str]]:
    """Add the registered variants to ``experiment_id``, or create one over them (and the
    source ad). Returns the experiment id and the arms added."""
    ad_ids = [ids[i][0] for i in sorted(ids)]
    if sampler is None or not ad_ids:
        return body.experiment_id, []
    if body.experiment_id is not None:
        added = await sampler("add_arms", tenant, body.experiment_id, ad_ids)
        return body.experiment_id, list(added)
    if body.create_experiment:
        arms = ([source.ad_id] if source.ad_id else []) + ad_ids
        if len(arms) < 2:
            return None, []
        name = body.experiment_name or f"variants of {source.name}"
        exp_id = await sampler("create_experiment", tenant_id=tenant, ad_ids=arms, name=name)
        return exp_id, arms
    return None, []
