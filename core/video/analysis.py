"""One decoding pass of per-frame statistics on downscaled frames (shared by analyses)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.video.frames import colourfulness, histogram, laplacian_var, luma, saturation
from core.video.io import FrameReader, VideoInfo


@dataclass
class FrameStats:
    """Arrays of shape ``(n,)``: luma mean/std, motion and cut score vs. the previous frame
    (0 for the first), saturation, colourfulness and Laplacian sharpness, all about 0..1."""

    fps: float
    brightness: np.ndarray
    contrast: np.ndarray
    motion: np.ndarray
    cut_score: np.ndarray
    saturation: np.ndarray
    colourfulness: np.ndarray
    sharpness: np.ndarray

    @property
    def n(self) -> int:
        return len(self.brightness)


def frame_stats(
    path: str,
    info: VideoInfo,
    *,
    analysis_width: int = 160,
    max_frames: int | None = None,
    chunk: int = 16,
) -> FrameStats:
    """Statistics of the first ``max_frames`` frames (all by default).

    cut score = 0.5 · (L1 histogram distance / 2) + 0.5 · min(1, mean |Δpixel| / 64).
    """
    w = min(analysis_width, info.width)
    h = max(2, int(round(info.height * w / info.width)))
    reader = FrameReader(path, width=w, height=h, chunk=chunk)
    n = min(reader.frame_count, max_frames or reader.frame_count)
    cols = {
        k: np.zeros(n, dtype=np.float32)
        for k in (
            "brightness",
            "contrast",
            "motion",
            "cut_score",
            "saturation",
            "colourfulness",
            "sharpness",
        )
    }
    prev_hist = prev = None
    for idx, frames in reader.chunks(range(n)):
        for i, f in zip(idx, frames, strict=True):
            g = luma(f)
            hist = histogram(f)
            cols["brightness"][i] = g.mean()
            cols["contrast"][i] = g.std()
            cols["saturation"][i] = saturation(f)
            cols["colourfulness"][i] = colourfulness(f)
            cols["sharpness"][i] = np.log1p(laplacian_var(g * 255.0)) / np.log1p(2000.0)
            if prev is not None:
                diff = float(np.abs(g - prev).mean())
                hd = float(np.abs(hist - prev_hist).sum()) / 6.0
                cols["motion"][i] = diff
                cols["cut_score"][i] = 0.5 * min(hd, 1.0) + 0.5 * min(diff * 255.0 / 64.0, 1.0)
            prev_hist, prev = hist, g
    return FrameStats(fps=reader.fps, **cols)


def find_cuts(scores: np.ndarray, fps: float, threshold: float, min_scene_s: float) -> list[int]:
    """Frame indices where a new scene starts (at least ``min_scene_s`` apart)."""
    cuts: list[int] = []
    min_gap = max(1, int(round(min_scene_s * fps)))
    last = 0
    for i in np.flatnonzero(scores > threshold):
        if i - last >= min_gap:
            cuts.append(int(i))
            last = int(i)
    return cuts
