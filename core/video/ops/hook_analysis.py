"""Hook analysis: motion, brightness, contrast and cut rate of the first seconds."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from core.video.analysis import find_cuts, frame_stats
from core.video.ops.base import OpConfig, OpContext, OpOutput, write_report


class HookConfig(OpConfig):
    """``seconds`` analysed from the start (default from ``configs/video.yaml``)."""

    seconds: float | None = Field(None, gt=0, le=60)
    window_s: float = Field(0.5, gt=0, le=10)


def hook_score(
    *, motion: float, cut_rate: float, brightness: float, contrast: float
) -> tuple[float, dict[str, float]]:
    """The 0–100 hook score of an opening and its components (each 0..1): 0.4 motion (mean
    |Δluma| over 0.03), 0.25 cut rate (cuts/s over 1), 0.2 exposure (distance of the mean
    luma from 0.55), 0.15 contrast (luma std over 0.25)."""
    parts = {
        "motion": min(motion / 0.03, 1.0),
        "cuts": min(cut_rate / 1.0, 1.0),
        "brightness": 1.0 - min(abs(brightness - 0.55) * 2.0, 1.0),
        "contrast": min(contrast / 0.25, 1.0),
    }
    score = 100 * (
        0.4 * parts["motion"]
        + 0.25 * parts["cuts"]
        + 0.2 * parts["brightness"]
        + 0.15 * parts["contrast"]
    )
    return float(np.clip(score, 0, 100)), parts


def hook_metrics(ctx: OpContext, seconds: float, window_s: float = 0.5) -> dict:
    """Metrics of the first ``seconds`` (motion and brightness in 0..1, score 0..100)."""
    info, d = ctx.info, ctx.video_config.scene_detect
    n = max(1, min(info.frame_count, int(round(seconds * info.fps))))
    st = frame_stats(
        ctx.path,
        info,
        analysis_width=d.analysis_width,
        max_frames=n,
        chunk=ctx.video_config.limits.read_chunk_frames,
    )
    cuts = find_cuts(st.cut_score, info.fps, d.threshold, d.min_scene_s)
    span = n / info.fps
    motion = float(st.motion[1:].mean()) if n > 1 else 0.0
    brightness, contrast = float(st.brightness.mean()), float(st.contrast.mean())
    cut_rate = len(cuts) / span
    score, parts = hook_score(
        motion=motion, cut_rate=cut_rate, brightness=brightness, contrast=contrast
    )
    step = max(1, int(round(window_s * info.fps)))
    timeline = [
        {
            "start_s": round(a / info.fps, 3),
            "motion": round(float(st.motion[a : a + step].mean()), 5),
            "brightness": round(float(st.brightness[a : a + step].mean()), 4),
        }
        for a in range(0, n, step)
    ]
    return {
        "seconds_analysed": round(span, 3),
        "frames": n,
        "motion": round(motion, 5),
        "motion_peak": round(float(st.motion.max(initial=0.0)), 5),
        "brightness": round(brightness, 4),
        "contrast": round(contrast, 4),
        "cuts": len(cuts),
        "cut_rate": round(cut_rate, 4),
        "first_cut_s": round(cuts[0] / info.fps, 3) if cuts else None,
        "components": {k: round(v, 4) for k, v in parts.items()},
        "hook_score": round(score, 2),
        "timeline": timeline,
    }


def run(ctx: OpContext, cfg: HookConfig) -> OpOutput:
    data = hook_metrics(ctx, cfg.seconds or ctx.video_config.hook.seconds, cfg.window_s)
    return OpOutput([write_report(ctx, "hook", data)], data)
