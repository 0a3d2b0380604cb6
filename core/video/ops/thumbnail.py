"""Thumbnails: sampled frames ranked by sharpness, contrast and exposure heuristics.

No face detector is used; a skin-tone share is a weak, optional "people" cue.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image
from pydantic import Field

from core.video.frames import colourfulness, laplacian_var, luma, resize, skin_fraction
from core.video.io import FrameReader, even, sample_indices
from core.video.ops.base import OpConfig, OpContext, OpOutput


class ThumbnailConfig(OpConfig):
    """Pick ``count`` frames at least ``min_gap_s`` apart; ``width`` scales the images."""

    count: int | None = Field(None, ge=1, le=20)
    sample_every_s: float | None = Field(None, gt=0, le=60)
    min_gap_s: float = Field(0.5, ge=0)
    width: int | None = Field(None, ge=16, le=4096)
    format: Literal["jpg", "png"] = "jpg"
    w_sharpness: float = Field(0.45, ge=0)
    w_contrast: float = Field(0.25, ge=0)
    w_exposure: float = Field(0.15, ge=0)
    w_colour: float = Field(0.10, ge=0)
    w_skin: float = Field(0.05, ge=0)


def score_frame(frame: np.ndarray) -> dict[str, float]:
    """Heuristic components in about 0..1 for one RGB frame."""
    g = luma(frame)
    sharp = float(np.clip(np.log1p(laplacian_var(g * 255.0)) / np.log1p(2000.0), 0, 1))
    contrast = float(min(g.std() / 0.25, 1.0))
    exposure = float(1.0 - min(abs(g.mean() - 0.5) * 2.0, 1.0))
    skin = skin_fraction(frame)
    people = float(min(skin / 0.1, 1.0)) if skin < 0.6 else 0.0
    return {
        "sharpness": sharp,
        "contrast": contrast,
        "exposure": exposure,
        "colour": colourfulness(frame),
        "skin": people,
    }


def run(ctx: OpContext, cfg: ThumbnailConfig) -> OpOutput:
    d = ctx.video_config.thumbnail
    info = ctx.info
    idx = sample_indices(info.frame_count, info.fps, cfg.sample_every_s or d.sample_every_s)
    weights = {
        "sharpness": cfg.w_sharpness,
        "contrast": cfg.w_contrast,
        "exposure": cfg.w_exposure,
        "colour": cfg.w_colour,
        "skin": cfg.w_skin,
    }
    total_w = sum(weights.values()) or 1.0
    reader = FrameReader(ctx.path, chunk=ctx.video_config.limits.read_chunk_frames)
    scored = []
    for part, frames in reader.chunks(idx):
        for i, f in zip(part, frames, strict=True):
            comps = score_frame(f)
            score = sum(weights[k] * comps[k] for k in weights) / total_w
            scored.append((score, i, comps))
    scored.sort(key=lambda s: -s[0])
    gap = int(round(cfg.min_gap_s * info.fps))
    chosen: list[tuple[float, int, dict]] = []
    for s in scored:
        if all(abs(s[1] - c[1]) >= gap for c in chosen):
            chosen.append(s)
        if len(chosen) == (cfg.count or d.count):
            break
    outputs, ranked = [], []
    picked = sorted({c[1] for c in chosen})  # one more pass over the file, in order
    images = dict(zip(picked, reader.get(picked), strict=True)) if picked else {}
    for rank, (score, i, comps) in enumerate(chosen):
        frame = images[i]
        if cfg.width:
            frame = resize(frame, cfg.width, even(cfg.width * info.height / info.width))
        path = ctx.output(f"thumb_{rank:02d}_f{i:05d}.{cfg.format}")
        Image.fromarray(frame).save(path, quality=92) if cfg.format == "jpg" else Image.fromarray(
            frame
        ).save(path)
        outputs.append(str(path))
        ranked.append(
            {
                "rank": rank,
                "frame": i,
                "time_s": round(i / info.fps, 3),
                "score": round(score, 4),
                **{k: round(v, 4) for k, v in comps.items()},
                "path": str(path),
            }
        )
    return OpOutput(outputs, {"thumbnails": ranked, "candidates": len(scored)})
