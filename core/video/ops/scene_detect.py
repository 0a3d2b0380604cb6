"""Scene detection by frame-difference statistics (histogram distance + pixel difference,
see :func:`core.video.analysis.frame_stats`)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from core.video.analysis import find_cuts, frame_stats
from core.video.ops.base import OpConfig, OpContext, OpOutput, write_report


class SceneDetectConfig(OpConfig):
    """``threshold``: cut score (0..1) above which a new scene starts."""

    threshold: float | None = Field(None, gt=0, le=1)
    min_scene_s: float | None = Field(None, ge=0)


def detect(
    ctx: OpContext,
    threshold: float | None = None,
    min_scene_s: float | None = None,
    max_frames: int | None = None,
) -> tuple[list[int], np.ndarray]:
    """Cuts and scores of the context's video with config defaults."""
    d = ctx.video_config.scene_detect
    scores = frame_stats(
        ctx.path,
        ctx.info,
        analysis_width=d.analysis_width,
        max_frames=max_frames,
        chunk=ctx.video_config.limits.read_chunk_frames,
    ).cut_score
    cuts = find_cuts(
        scores,
        ctx.info.fps,
        threshold or d.threshold,
        d.min_scene_s if min_scene_s is None else min_scene_s,
    )
    return cuts, scores


def run(ctx: OpContext, cfg: SceneDetectConfig) -> OpOutput:
    cuts, scores = detect(ctx, cfg.threshold, cfg.min_scene_s)
    fps, n = ctx.info.fps, ctx.info.frame_count
    bounds = [0, *cuts, n]
    scenes = [
        {
            "index": k,
            "start_frame": a,
            "end_frame": b - 1,
            "start_s": round(a / fps, 3),
            "end_s": round(b / fps, 3),
        }
        for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
    ]
    data = {
        "scene_count": len(scenes),
        "cut_frames": cuts,
        "cut_times_s": [round(c / fps, 3) for c in cuts],
        "scenes": scenes,
        "max_score": round(float(scores.max(initial=0.0)), 4),
    }
    return OpOutput([write_report(ctx, "scenes", data)], data)
