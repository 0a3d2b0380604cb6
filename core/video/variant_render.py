"""Rendering variant plans with the existing operations (no Ray here: a *runner* runs each
operation, as a Ray task in ``serve_apps/video/variants.py`` or in a thread with
:func:`local_runner`).

Per source: ``scene_detect`` (the profile the planner reads), and ``smart_crop`` once per
aspect that needs reframing. Per variant, in order: ``timeline`` (the opening clip first,
the rest of the source, the output size), ``caption`` (the hook text over the opening),
``motion_graphics`` (the CTA end card), then ``creative_features`` of the result. Variants
render side by side; each step reads the previous step's output from the tenant's own
output folder. A failing step fails its variant only.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from core.video.config import VariantsDefaults
from core.video.errors import VideoError
from core.video.runner import run_operation
from core.video.safety import MediaRoots
from core.video.variants import (
    SourceProfile,
    VariantPlan,
    caption_config,
    end_card_config,
    reframe_config,
    timeline_config,
)

log = logging.getLogger("adcluster.variants")

# (op_type, video_path, config, work_dir, step) -> an OperationResult dict; the operation
# writes into work_dir / f"{step:03d}_{op_type}" (``RunContext.op_output_dir``'s layout).
Runner = Callable[[str, str, dict[str, Any], Path, int], Awaitable[dict[str, Any]]]


def local_runner(roots: MediaRoots, *, tenant: str, feature_dim: int) -> Runner:
    """Operations in a worker thread of this process (the CLI's ``--no-ray``, scripts)."""

    async def run(
        op_type: str, video_path: str, config: dict[str, Any], work_dir: Path, step: int
    ) -> dict[str, Any]:
        result = await asyncio.to_thread(
            run_operation,
            op_type,
            video_path,
            config,
            roots=roots,
            output_dir=work_dir / f"{step:03d}_{op_type}",
            feature_dim=feature_dim,
            tenant=tenant,
        )
        return result.model_dump(mode="json")

    return run


class StepFailed(VideoError):
    """An operation of a variant's chain failed (``step`` names it)."""

    def __init__(self, step: str, error: str) -> None:
        super().__init__(f"{step} failed: {error}")
        self.step = step


async def _step(
    runner: Runner, op: str, video: str, config: dict[str, Any], work: Path, step: int
) -> dict[str, Any]:
    result = await runner(op, video, config, work, step)
    if result.get("status") != "success":
        raise StepFailed(op, str(result.get("error") or "unknown error"))
    return result


async def analyse(
    runner: Runner,
    video_path: str,
    work_dir: Path,
    *,
    max_hook_s: float,
    hook_text: str | None = None,
    cta: str | None = None,
) -> SourceProfile:
    """The source's profile from its ``scene_detect`` result (raises :class:`StepFailed`)."""
    data = (await _step(runner, "scene_detect", video_path, {}, work_dir, 0))["data"]
    return SourceProfile.from_scenes(
        data,
        width=int(data["width"]),
        height=int(data["height"]),
        max_hook_s=max_hook_s,
        hook_text=hook_text,
        cta=cta,
    )


@dataclass
class RenderedVariant:
    """A plan and what became of it: the video, its features, or the error."""

    plan: VariantPlan
    status: Literal["success", "failed"]
    name: str
    output_path: str | None = None
    features: dict[str, float] = field(default_factory=dict)
    vector: list[float] = field(default_factory=list)
    error: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)


async def render_variants(
    runner: Runner,
    video_path: str,
    plans: Sequence[VariantPlan],
    names: Sequence[str],
    run_dir: Path,
    cfg: VariantsDefaults,
    *,
    logo: str | dict[str, str] | None = None,
    on_done: Callable[[int, RenderedVariant], Awaitable[None] | None] | None = None,
) -> list[RenderedVariant]:
    """Render every plan into ``run_dir / f"{name}.mp4"`` (``names``: one per plan, safe
    file names); ``on_done(i, variant)`` as each ends. Intermediate files are removed unless
    ``cfg.keep_intermediates``."""
    reframe_dir = run_dir / "reframe"
    aspects = sorted(
        {p.aspect for p in plans if p.reframe and cfg.reframe == "smart_crop"}, key=str
    )
    crops: dict[str, asyncio.Task[dict[str, Any]]] = {
        a: asyncio.ensure_future(
            _step(runner, "smart_crop", video_path, reframe_config(a), reframe_dir, k)
        )
        for k, a in enumerate(aspects)
    }

    async def one(i: int, plan: VariantPlan) -> RenderedVariant:
        work = run_dir / names[i]
        out = RenderedVariant(plan=plan, status="failed", name=names[i])
        try:
            source = video_path
            if plan.aspect in crops:
                source = (await crops[plan.aspect])["output_path"]
            chain = [
                ("timeline", timeline_config(plan)),
                ("caption", caption_config(plan, cfg)),
                ("motion_graphics", end_card_config(plan, cfg, logo)),
            ]
            current = source
            for step, (op, config) in enumerate(chain, start=1):
                result = await _step(runner, op, current, config, work, step)
                out.steps.append({"operation": op, "elapsed_s": result.get("elapsed_s")})
                current = result["output_path"]
            final = run_dir / f"{names[i]}.mp4"
            await asyncio.to_thread(shutil.move, current, final)
            feats = await _step(runner, "creative_features", str(final), {}, work, len(chain) + 1)
            out.status, out.output_path = "success", str(final)
            out.features = {k: float(v) for k, v in feats["data"]["features"].items()}
            out.vector = [float(v) for v in feats["data"]["vector"]]
        except (VideoError, OSError, KeyError) as exc:
            out.error = str(exc)
            log.warning("variant failed", extra={"variant": names[i], "error": out.error})
        if not cfg.keep_intermediates:
            await asyncio.to_thread(_remove_videos, work)
        if on_done is not None:
            maybe = on_done(i, out)
            if asyncio.iscoroutine(maybe):
                await maybe
        return out

    done = await asyncio.gather(*(one(i, p) for i, p in enumerate(plans)))
    for task in crops.values():  # a crop no variant waited for (all failed before it)
        if not task.done():
            task.cancel()
    if not cfg.keep_intermediates:
        await asyncio.to_thread(_remove_videos, reframe_dir)
    return list(done)


def _remove_videos(folder: Path) -> None:
    """Delete the intermediate video files under ``folder``, then the folders left empty
    (JSON reports stay)."""
    if not folder.is_dir():
        return
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix.lower() in (".mp4", ".mkv", ".mov"):
            path.unlink(missing_ok=True)
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    if not any(folder.iterdir()):
        folder.rmdir()
