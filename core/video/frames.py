"""Per-frame image statistics and transforms on RGB ``uint8`` arrays (numpy / Pillow)."""

from __future__ import annotations

import numpy as np
from PIL import Image

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luma(frames: np.ndarray) -> np.ndarray:
    """Luma in 0..1, shape ``frames.shape[:-1]``."""
    return (frames.astype(np.float32) @ _LUMA) / 255.0


def resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize of one frame."""
    if frame.shape[1] == width and frame.shape[0] == height:
        return frame
    return np.asarray(Image.fromarray(frame).resize((width, height), Image.BILINEAR))


def laplacian_var(gray: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of a 2-D luma image (sharpness)."""
    g = gray.astype(np.float32)
    lap = -4 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]
    return float(lap.var())


def gradient_magnitude(gray: np.ndarray) -> np.ndarray:
    """|∇| of a 2-D image (same shape, edges zero)."""
    g = np.zeros_like(gray, dtype=np.float32)
    gx = gray[1:-1, 2:] - gray[1:-1, :-2]
    gy = gray[2:, 1:-1] - gray[:-2, 1:-1]
    g[1:-1, 1:-1] = np.hypot(gx, gy)
    return g


def saturation(frames: np.ndarray) -> float:
    """Mean HSV saturation in 0..1."""
    f = frames.astype(np.float32)
    mx, mn = f.max(axis=-1), f.min(axis=-1)
    return float(np.mean(np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-6), 0.0)))


def colourfulness(frames: np.ndarray) -> float:
    """Hasler–Süsstrunk colourfulness, scaled to about 0..1."""
    f = frames.astype(np.float32)
    rg = f[..., 0] - f[..., 1]
    yb = 0.5 * (f[..., 0] + f[..., 1]) - f[..., 2]
    m = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    return float(min(m / 150.0, 1.0))


def skin_fraction(frame: np.ndarray) -> float:
    """Share of pixels in a YCbCr skin-tone box (a face-detector-free people cue)."""
    f = frame.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    mask = (cb >= 77) & (cb <= 127) & (cr >= 133) & (cr <= 173)
    return float(mask.mean())


def histogram(frame: np.ndarray, bins: int = 16) -> np.ndarray:
    """Normalised per-channel histogram, shape ``(3 * bins,)`` summing to 3."""
    h = [np.histogram(frame[..., c], bins=bins, range=(0, 256))[0] for c in range(3)]
    out = np.concatenate(h).astype(np.float32)
    return out / max(frame.shape[0] * frame.shape[1], 1)


def alpha_composite(
    frame: np.ndarray, rgba: np.ndarray, x: int, y: int, opacity: float = 1.0
) -> np.ndarray:
    """Blend an RGBA patch onto ``frame`` at ``(x, y)`` (clipped to the frame)."""
    h, w = rgba.shape[:2]
    fh, fw = frame.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, fw), min(y + h, fh)
    if x0 >= x1 or y0 >= y1:
        return frame
    patch = rgba[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)
    a = patch[..., 3:4] / 255.0 * opacity
    out = frame.copy()
    region = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(region * (1 - a) + patch[..., :3] * a, 0, 255).astype(np.uint8)
    return out


def parse_aspect(value: str) -> float:
    """``"9:16"`` → 0.5625; raises ``ValueError`` on anything else."""
    parts = value.split(":")
    if len(parts) != 2:
        raise ValueError(f"aspect must look like W:H, got {value!r}")
    w, h = float(parts[0]), float(parts[1])
    if w <= 0 or h <= 0:
        raise ValueError(f"aspect sides must be positive, got {value!r}")
    return w / h
