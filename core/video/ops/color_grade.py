"""Colour grading by presets and parameters: per-channel LUTs (curves) plus saturation.

Runs as a libavfilter chain: ``lutrgb`` (the per-channel tables) then ``colorchannelmixer``
(saturation around BT.601 luma); an ``intensity`` below 1 folds into the tables, or, with a
saturation change too, everything goes into one ``lut3d``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from pydantic import Field, field_validator

from core.video.config import get_video_config
from core.video.ops.base import OpConfig, OpContext, OpOutput, write_video
from core.video.pipeline import Filter

Curve = list[tuple[float, float]]
_LUMA = np.array([0.299, 0.587, 0.114])


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


def table_expr(table: np.ndarray) -> str:
    """A libavfilter expression of ``val`` equal to ``table[val]`` on 0..255: a balanced
    ``if(lt(val,k),…,…)`` tree over runs where ``table[v] - v`` is constant."""
    offs = table.astype(int) - np.arange(256)
    starts = [0, *(np.flatnonzero(np.diff(offs)) + 1).tolist()]

    def leaf(v: int) -> str:
        return "val" if offs[v] == 0 else f"val{offs[v]:+d}"

    def tree(lo: int, hi: int) -> str:  # runs lo..hi-1
        if hi - lo == 1:
            return leaf(starts[lo])
        mid = (lo + hi) // 2
        return f"if(lt(val,{starts[mid]}),{tree(lo, mid)},{tree(mid, hi)})"

    return tree(0, len(starts))


def saturation_matrix(sat: float) -> dict[str, str]:
    """``colorchannelmixer`` options for ``gray + sat · (rgb − gray)`` (BT.601 luma)."""
    m = (1 - sat) * np.tile(_LUMA, (3, 1)) + sat * np.eye(3)
    return {f"{o}{i}": f"{m[a, b]:.6f}" for a, o in enumerate("rgb") for b, i in enumerate("rgb")}


def cube_file(luts: np.ndarray, sat: float, intensity: float, folder: Path, size: int = 33) -> Path:
    """The whole grade (tables, saturation, blend) as a 3-D ``.cube`` LUT."""
    grid = np.linspace(0, 255, size)
    b, g, r = np.meshgrid(grid, grid, grid, indexing="ij")  # red varies fastest in .cube
    rgb = np.stack([r, g, b], axis=-1).reshape(-1, 3)
    x = np.arange(256)
    mapped = np.stack([np.interp(rgb[:, c], x, luts[c].astype(float)) for c in range(3)], axis=1)
    gray = mapped @ _LUMA
    graded = gray[:, None] + sat * (mapped - gray[:, None])
    graded = intensity * graded + (1 - intensity) * rgb
    path = folder / "grade.cube"
    with path.open("w") as fh:
        fh.write(f"LUT_3D_SIZE {size}\n")
        np.savetxt(fh, np.clip(graded / 255.0, 0, 1), fmt="%.6f")
    return path


def grade_filters(luts: np.ndarray, sat: float, intensity: float, folder: Path) -> list[Filter]:
    """The filter chain of one grade (``folder`` holds a ``.cube`` file when one is needed)."""
    if intensity < 1.0 and sat != 1.0:
        return [("lut3d", {"file": str(cube_file(luts, sat, intensity, folder))})]
    if intensity < 1.0:
        x = np.arange(256, dtype=np.float32)
        luts = np.clip(np.round(intensity * luts + (1 - intensity) * x), 0, 255).astype(np.uint8)
    filters: list[Filter] = [("lutrgb", {c: table_expr(luts[k]) for k, c in enumerate("rgb")})]
    if sat != 1.0:
        filters.append(("colorchannelmixer", saturation_matrix(sat)))
    return filters


def run(ctx: OpContext, cfg: ColorGradeConfig) -> OpOutput:
    params = cfg.resolved()
    luts = build_luts(params)
    sat = float(params.get("saturation", 1.0))
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        out, codecs = write_video(
            ctx, ctx.even_size, filters=grade_filters(luts, sat, cfg.intensity, Path(tmp))
        )
    return OpOutput([str(out)], {"params": params, "intensity": cfg.intensity, "codecs": codecs})
