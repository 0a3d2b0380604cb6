"""Colour grading by presets and parameters: per-channel LUTs (curves) plus saturation."""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator

from core.video.config import get_video_config
from core.video.ops.base import OpConfig, OpContext, OpOutput, map_frames

Curve = list[tuple[float, float]]


class ColorGradeConfig(OpConfig):
    """A preset from ``configs/video.yaml`` and/or explicit parameters (which win).

    ``brightness``/``temperature``/``tint`` in -1..1 (0 neutral); ``contrast``,
    ``saturation``, ``gamma`` 1 neutral; ``curves`` maps ``r``/``g``/``b``/``all`` to
    control points ``[[in, out], ...]`` in 0..255; ``intensity`` blends with the original.
    """

    preset: str | None = None
    brightness: float | None = Field(None, ge=-1, le=1)
    contrast: float | None = Field(None, ge=0, le=3)
    saturation: float | None = Field(None, ge=0, le=3)
    gamma: float | None = Field(None, gt=0.1, le=5)
    temperature: float | None = Field(None, ge=-1, le=1)
    tint: float | None = Field(None, ge=-1, le=1)
    curves: dict[str, Curve] | None = None
    intensity: float = Field(1.0, ge=0, le=1)

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, v: str | None) -> str | None:
        known = get_video_config().color_presets
        if v is not None and v not in known:
            raise ValueError(f"unknown preset {v!r}; known: {sorted(known)}")
        return v

    @field_validator("curves")
    @classmethod
    def _curves(cls, v: dict[str, Curve] | None) -> dict[str, Curve] | None:
        for name, pts in (v or {}).items():
            if name not in ("r", "g", "b", "all"):
                raise ValueError(f"curve channel must be r, g, b or all, got {name!r}")
            if len(pts) < 2 or any(not (0 <= a <= 255 and 0 <= b <= 255) for a, b in pts):
                raise ValueError(f"curve {name!r} needs ≥ 2 points with values in 0..255")
        return v

    def resolved(self) -> dict:
        """Preset values overlaid with explicit parameters."""
        params = dict(get_video_config().color_presets.get(self.preset or "", {}))
        explicit = self.model_dump(exclude={"preset", "intensity"}, exclude_none=True)
        params.update(explicit)
        return params


def build_luts(params: dict) -> np.ndarray:
    """Per-channel lookup tables, shape ``(3, 256)`` uint8."""
    x = np.arange(256, dtype=np.float32) / 255.0
    base = np.clip(x + params.get("brightness", 0.0) * 0.5, 0, 1)
    base = np.clip((base - 0.5) * params.get("contrast", 1.0) + 0.5, 0, 1)
    base = base ** params.get("gamma", 1.0)
    t, tint = params.get("temperature", 0.0), params.get("tint", 0.0)
    shifts = (t * 0.16, -tint * 0.12, -t * 0.16)
    luts = np.stack([np.clip(base + s, 0, 1) * 255.0 for s in shifts])
    curves = params.get("curves", {}) or {}
    for k, name in enumerate("rgb"):
        for key in ("all", name):
            if key in curves:
                pts = sorted(curves[key])
                luts[k] = np.interp(luts[k], [p[0] for p in pts], [p[1] for p in pts])
    return np.clip(np.round(luts), 0, 255).astype(np.uint8)


def grade(frames: np.ndarray, luts: np.ndarray, sat: float, intensity: float) -> np.ndarray:
    """Apply LUTs, then saturation, then blend with the original by ``intensity``."""
    out = np.stack([luts[c][frames[..., c]] for c in range(3)], axis=-1)
    if sat != 1.0 or intensity < 1.0:
        f = out.astype(np.float32)
        if sat != 1.0:
            gray = f @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
            f = gray[..., None] + sat * (f - gray[..., None])
        if intensity < 1.0:
            f = intensity * f + (1 - intensity) * frames.astype(np.float32)
        out = np.clip(np.round(f), 0, 255).astype(np.uint8)
    return out


def run(ctx: OpContext, cfg: ColorGradeConfig) -> OpOutput:
    params = cfg.resolved()
    luts = build_luts(params)
    sat = float(params.get("saturation", 1.0))
    out = map_frames(
        ctx, lambda _i, fr: grade(fr, luts, sat, cfg.intensity), (ctx.info.width, ctx.info.height)
    )
    return OpOutput([str(out)], {"params": params, "intensity": cfg.intensity})
