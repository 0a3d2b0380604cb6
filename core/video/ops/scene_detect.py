"""Scene detection by frame-difference statistics (histogram distance + pixel difference,
see :func:`core.video.analysis.frame_stats`), with each scene's opening statistics and hook
score (as ``hook_analysis`` scores a clip's first seconds) and per-window statistics, so a
planner can tell which moments would make the strongest opening."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from core.video.analysis import FrameStats, find_cuts, frame_stats
from core.video.ops.base import OpConfig, OpContext, OpOutput, write_report
from core.video.ops.hook_analysis import hook_score


class SceneDetectConfig(OpConfig):
    """``threshold``: cut score (0..1) above which a new scene starts; ``window_s``: length
    of the windows whose statistics are reported."""

    threshold: float | None = Field(None, gt=0, le=1)
    min_scene_s: float | None = Field(None, ge=0)
    window_s: float = Field(0.5, gt=0, le=10)


def detect(
    ctx: OpContext,
    threshold: float | None = None,
    min_scene_s: float | None = None,
    max_frames: int | None = None,
) -> tuple[list[int], FrameStats]:
    """Cuts and per-frame statistics of the context's video with config defaults."""
    d = ctx.video_config.scene_detect
    stats = frame_stats(
        ctx.path,
        ctx.info,
        analysis_width=d.analysis_width,
        max_frames=max_frames,
        chunk=ctx.video_config.limits.read_chunk_frames,
    )
    cuts = find_cuts(
        stats.cut_score,
        ctx.info.fps,
        threshold or d.threshold,
        d.min_scene_s if min_scene_s is None else min_scene_s,
    )
    return cuts, stats


def span_stats(st: FrameStats, a: int, b: int) -> dict[str, float]:
    """Mean motion (|Δluma| to the previous frame, the span's first frame excluded: it may be
    a cut), brightness and contrast of frames ``[a, b)``."""
    motion = st.motion[a + 1 : b] if b - a > 1 else np.zeros(1, np.float32)
    return {
        "motion": round(float(motion.mean()), 5),
        "brightness": round(float(st.brightness[a:b].mean()), 4),
        "contrast": round(float(st.contrast[a:b].mean()), 4),
    }


def run(ctx: OpContext, cfg: SceneDetectConfig) -> OpOutput:
    cuts, st = detect(ctx, cfg.threshold, cfg.min_scene_s)
    fps, n = ctx.info.fps, min(ctx.info.frame_count, st.n)
    bounds = [0, *cuts, n]
    scenes = []
    for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        stats = span_stats(st, a, b)
        score, _ = hook_score(cut_rate=0.0, **stats)
        scenes.append(
            {
                "index": k,
                "start_frame": a,
                "end_frame": b - 1,
                "start_s": round(a / fps, 3),
                "end_s": round(b / fps, 3),
                **stats,
                "hook_score": round(score, 2),
            }
        )
    step = max(1, int(round(cfg.window_s * fps)))
    windows = [
        {"start_frame": a, "end_frame": min(a + step, n) - 1, **span_stats(st, a, min(a + step, n))}
        for a in range(0, n, step)
    ]
    data = {
        "scene_count": len(scenes),
        "frame_count": n,
        "fps": fps,
        "width": ctx.even_size[0],
        "height": ctx.even_size[1],
        "cut_frames": cuts,
        "cut_times_s": [round(c / fps, 3) for c in cuts],
        "scenes": scenes,
        "windows": windows,
        "max_score": round(float(st.cut_score.max(initial=0.0)), 4),
    }
    return OpOutput([write_report(ctx, "scenes", data)], data)
