"""The fixed-length creative feature vector used by the winner memory and the models.

Components, each scaled to about 0..1 (names in :data:`FEATURE_NAMES`); the vector is
cut or zero-padded to the configured length (``Settings.memory.video_dim``).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
from pydantic import Field

from core.domain.video_scale import (
    CUT_RATE_SCALE,
    DURATION_SCALE_S,
    MOTION_SCALE,
    aspect_feature,
    squash,
)
from core.video.analysis import find_cuts, frame_stats
from core.video.config import get_video_config
from core.video.io import probe, read_audio
from core.video.ops.base import OpConfig, OpContext, OpOutput, write_report
from core.video.ops.loudness_normalize import integrated_loudness

FEATURE_NAMES: tuple[str, ...] = (
    "duration",
    "aspect",
    "fps",
    "brightness_mean",
    "brightness_std",
    "contrast",
    "saturation",
    "colourfulness",
    "sharpness",
    "motion_mean",
    "motion_std",
    "cut_rate",
    "hook_motion",
    "hook_brightness",
    "has_audio",
    "loudness",
)


class CreativeFeaturesConfig(OpConfig):
    """``dim``: vector length (default ``Settings.memory.video_dim``)."""

    dim: int | None = Field(None, ge=0, le=1024)


def feature_dict(ctx: OpContext) -> dict[str, float]:
    """Named features of the context's video."""
    info, vc = ctx.info, ctx.video_config
    st = frame_stats(
        ctx.path,
        info,
        analysis_width=vc.scene_detect.analysis_width,
        chunk=vc.limits.read_chunk_frames,
    )
    cuts = find_cuts(st.cut_score, info.fps, vc.scene_detect.threshold, vc.scene_detect.min_scene_s)
    hook_n = max(1, min(st.n, int(round(vc.hook.seconds * info.fps))))
    motion = st.motion[1:] if st.n > 1 else np.zeros(1, np.float32)
    audio = read_audio(ctx.path) if info.has_audio else None
    lufs = integrated_loudness(audio) if audio is not None else float("-inf")
    return {
        "duration": squash(info.duration_s, DURATION_SCALE_S),
        "aspect": aspect_feature(info.aspect),
        "fps": float(min(info.fps / 60.0, 1.0)),
        "brightness_mean": float(st.brightness.mean()),
        "brightness_std": float(min(st.brightness.std() / 0.25, 1.0)),
        "contrast": float(min(st.contrast.mean() / 0.25, 1.0)),
        "saturation": float(st.saturation.mean()),
        "colourfulness": float(st.colourfulness.mean()),
        "sharpness": float(np.clip(st.sharpness.mean(), 0, 1)),
        "motion_mean": squash(float(motion.mean()), MOTION_SCALE),
        "motion_std": squash(float(motion.std()), MOTION_SCALE),
        "cut_rate": squash(len(cuts) / info.duration_s, CUT_RATE_SCALE),
        "hook_motion": squash(
            float(st.motion[1:hook_n].mean()) if hook_n > 1 else 0.0, MOTION_SCALE
        ),
        "hook_brightness": float(st.brightness[:hook_n].mean()),
        "has_audio": 1.0 if audio is not None else 0.0,
        "loudness": float(np.clip((lufs + 60) / 60, 0, 1)) if math.isfinite(lufs) else 0.0,
    }


def to_vector(features: dict[str, float], dim: int) -> list[float]:
    """Features in :data:`FEATURE_NAMES` order, cut or zero-padded to ``dim``."""
    vec = [round(float(features[k]), 6) for k in FEATURE_NAMES][:dim]
    return vec + [0.0] * (dim - len(vec))


def run(ctx: OpContext, cfg: CreativeFeaturesConfig) -> OpOutput:
    feats = feature_dict(ctx)
    dim = ctx.feature_dim if cfg.dim is None else cfg.dim
    data = {
        "dim": dim,
        "names": list(FEATURE_NAMES[:dim]),
        "vector": to_vector(feats, dim),
        "features": {k: round(v, 6) for k, v in feats.items()},
    }
    return OpOutput([write_report(ctx, "features", data)], data)


def creative_features(path: str | Path, dim: int | None = None) -> list[float]:
    """Feature vector of a video file (length ``dim``, default ``Settings.memory.video_dim``).

    Raises :class:`core.video.errors.InvalidInputError` for unreadable files.
    """
    if dim is None:
        from core.settings import get_settings

        dim = get_settings().memory.video_dim
    vc = get_video_config()
    info = probe(path, vc.limits)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = OpContext(
            info=info,
            output_dir=Path(tmp),
            video_config=vc,
            media_root=Path(path).parent,
            feature_dim=dim,
        )
        return to_vector(feature_dict(ctx), dim)
