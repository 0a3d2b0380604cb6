"""Smart crop to a target aspect, following the region of highest motion and saliency."""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator

from core.video.frames import gradient_magnitude, luma, parse_aspect, resize
from core.video.io import FrameReader, even
from core.video.ops.base import OpConfig, OpContext, OpOutput, map_frames


class SmartCropConfig(OpConfig):
    """``aspect`` W:H (e.g. 9:16, 1:1, 4:5); ``height`` scales the output (even)."""

    aspect: str = "9:16"
    height: int | None = Field(None, ge=16, le=4096)
    motion_weight: float = Field(0.7, ge=0, le=1)
    smoothing_s: float = Field(0.5, ge=0, le=10)

    @field_validator("aspect")
    @classmethod
    def _aspect(cls, v: str) -> str:
        parse_aspect(v)
        return v


def crop_size(width: int, height: int, aspect: float) -> tuple[int, int]:
    """Largest even ``(w, h)`` of ``aspect`` inside ``width × height``."""
    if width / height > aspect:
        h = height - height % 2
        w = min(even(h * aspect), width - width % 2)
    else:
        w = width - width % 2
        h = min(even(w / aspect), height - height % 2)
    return w, h


def interest_centres(ctx: OpContext, motion_weight: float, analysis_width: int = 160) -> np.ndarray:
    """Per-frame (x, y) centroid of the motion/saliency map, in 0..1 coordinates."""
    info = ctx.info
    w = min(analysis_width, info.width)
    h = max(2, int(round(info.height * w / info.width)))
    reader = FrameReader(
        ctx.path, width=w, height=h, chunk=ctx.video_config.limits.read_chunk_frames
    )
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    centres = np.full((reader.frame_count, 2), 0.5, dtype=np.float32)
    weights = np.zeros(reader.frame_count, dtype=np.float32)
    prev = None
    for idx, frames in reader.chunks():
        for i, g in zip(idx, luma(frames), strict=True):
            motion = np.abs(g - prev) if prev is not None else np.zeros_like(g)
            sal = gradient_magnitude(g)
            m = motion / (motion.max() + 1e-6) if motion.max() > 0.02 else motion * 0
            s = sal / (sal.max() + 1e-6)
            wmap = motion_weight * m + (1 - motion_weight) * s**2
            total = float(wmap.sum())
            if total > 1e-6:
                centres[i] = ((xs * wmap).sum() / total / w, (ys * wmap).sum() / total / h)
                weights[i] = float(m.sum()) if motion_weight > 0 else total
            prev = g
    if reader.frame_count > 1:
        centres[0] = centres[1]  # the first frame has no motion of its own
    return centres


def smooth(track: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average (edge-padded), so the crop neither lags nor jitters."""
    if window <= 1 or len(track) < 2:
        return track
    pad = window // 2
    padded = np.pad(track, ((pad, pad), (0, 0)), mode="edge")
    kernel = np.ones(window, dtype=np.float32) / window
    return np.stack(
        [np.convolve(padded[:, k], kernel, mode="valid")[: len(track)] for k in range(2)], axis=1
    )


def run(ctx: OpContext, cfg: SmartCropConfig) -> OpOutput:
    info = ctx.info
    cw, ch = crop_size(info.width, info.height, parse_aspect(cfg.aspect))
    window = max(1, int(round(cfg.smoothing_s * info.fps)) | 1)
    centres = smooth(interest_centres(ctx, cfg.motion_weight), window)
    xs = np.clip(np.round(centres[:, 0] * info.width - cw / 2), 0, info.width - cw).astype(int)
    ys = np.clip(np.round(centres[:, 1] * info.height - ch / 2), 0, info.height - ch).astype(int)
    out_w, out_h = (
        (cw, ch) if cfg.height is None else (even(cfg.height * cw / ch), even(cfg.height))
    )

    def crop(idx: list[int], frames: np.ndarray):
        for i, f in zip(idx, frames, strict=True):
            yield resize(f[ys[i] : ys[i] + ch, xs[i] : xs[i] + cw], out_w, out_h)

    out = map_frames(ctx, crop, (out_w, out_h))
    data = {
        "width": out_w,
        "height": out_h,
        "crop_width": cw,
        "crop_height": ch,
        "crop_x": [int(v) for v in xs],
        "crop_y": [int(v) for v in ys],
    }
    return OpOutput([str(out)], data)
