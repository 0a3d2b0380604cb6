"""Keyframe interpolation for motion graphics: easing curves and per-frame layer states.

Pure numpy, no Ray, no FFmpeg. A track is a list of :class:`Keyframe` in time order; the
easing of a keyframe shapes the segment from it to the next one. Before the first keyframe
the layer holds the first state, after the last it holds the last one. Sampling works in
frame units, so a keyframe whose time falls on a frame is reproduced exactly on that frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# CSS-style cubic-bezier presets (x1, y1, x2, y2); every y in [0, 1], so each is monotone.
BEZIER_PRESETS: dict[str, tuple[float, float, float, float]] = {
    "ease": (0.25, 0.1, 0.25, 1.0),
    "ease_in_sine": (0.12, 0.0, 0.39, 0.0),
    "ease_out_sine": (0.61, 1.0, 0.88, 1.0),
    "ease_in_expo": (0.7, 0.0, 0.84, 0.0),
    "ease_out_expo": (0.16, 1.0, 0.3, 1.0),
    "ease_in_out_expo": (0.87, 0.0, 0.13, 1.0),
    "snappy": (0.2, 0.8, 0.2, 1.0),
}
POLYNOMIAL = ("linear", "ease_in", "ease_out", "ease_in_out", "hold")
EASINGS: tuple[str, ...] = POLYNOMIAL + tuple(BEZIER_PRESETS)

Easing = str | tuple[float, float, float, float]


def _bezier(u: np.ndarray, x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    """y of the cubic bezier (0,0)-(x1,y1)-(x2,y2)-(1,1) at x = ``u`` (bisection; x is
    monotone in the curve parameter for x1, x2 in [0, 1])."""

    def coord(s: np.ndarray, p1: float, p2: float) -> np.ndarray:
        return 3 * (1 - s) ** 2 * s * p1 + 3 * (1 - s) * s**2 * p2 + s**3

    lo, hi = np.zeros_like(u), np.ones_like(u)
    for _ in range(40):  # 2^-40: far below a pixel
        mid = (lo + hi) / 2
        below = coord(mid, x1, x2) < u
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return coord((lo + hi) / 2, y1, y2)


def ease(name: Easing, u: np.ndarray | float) -> np.ndarray:
    """Progress of ``name`` at ``u`` in [0, 1] (clipped); 0 at 0 and 1 at 1 exactly."""
    u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
    if isinstance(name, tuple):
        out = _bezier(u, *name)
    elif name == "linear":
        out = u
    elif name == "ease_in":
        out = u**3
    elif name == "ease_out":
        out = 1 - (1 - u) ** 3
    elif name == "ease_in_out":
        out = np.where(u < 0.5, 4 * u**3, 1 - (-2 * u + 2) ** 3 / 2)
    elif name == "hold":
        out = np.zeros_like(u)
    elif name in BEZIER_PRESETS:
        out = _bezier(u, *BEZIER_PRESETS[name])
    else:
        raise ValueError(f"unknown easing {name!r}; known: {', '.join(EASINGS)}")
    # exact endpoints whatever the arithmetic (hold stays at 0 until the next keyframe)
    return np.where(u <= 0.0, 0.0, np.where(u >= 1.0, 1.0, out))


@dataclass(frozen=True)
class Keyframe:
    """The layer's state at ``t`` seconds: position ``(x, y)`` in pixels, ``scale`` (of the
    layer's own size) and ``opacity`` (0..1); ``easing`` shapes the way to the next one."""

    t: float
    x: float
    y: float
    scale: float = 1.0
    opacity: float = 1.0
    easing: Easing = "linear"


@dataclass(frozen=True)
class Track:
    """Per-frame states, each an array of shape ``(n_frames,)``."""

    x: np.ndarray
    y: np.ndarray
    scale: np.ndarray
    opacity: np.ndarray


def validate(keys: Sequence[Keyframe]) -> None:
    """Raise ``ValueError`` unless ``keys`` is a usable track."""
    if not keys:
        raise ValueError("a track needs at least one keyframe")
    for a, b in zip(keys, keys[1:], strict=False):
        if b.t <= a.t:
            raise ValueError(f"keyframe times must increase (t={b.t} after t={a.t})")
    for k in keys:
        if k.scale <= 0:
            raise ValueError(f"keyframe at t={k.t}: scale must be > 0")
        if not 0.0 <= k.opacity <= 1.0:
            raise ValueError(f"keyframe at t={k.t}: opacity must be within 0..1")
        if k.t < 0:
            raise ValueError("keyframe times must be >= 0")
        ease(k.easing, 0.5)  # unknown names fail here


def sample(keys: Sequence[Keyframe], n_frames: int, fps: float) -> Track:
    """States of frames ``0 .. n_frames - 1`` at ``fps``."""
    validate(keys)
    frames = np.arange(n_frames, dtype=np.float64)
    at = [k.t * fps for k in keys]  # keyframe positions in frame units
    props = {
        p: np.full(n_frames, float(getattr(keys[0], p))) for p in ("x", "y", "scale", "opacity")
    }
    for k0, k1, a, b in zip(keys, keys[1:], at, at[1:], strict=False):
        inside = (frames >= a) & (frames <= b)
        if not inside.any():
            continue
        p = ease(k0.easing, (frames[inside] - a) / (b - a))
        for name, arr in props.items():
            v0, v1 = float(getattr(k0, name)), float(getattr(k1, name))
            arr[inside] = v0 + (v1 - v0) * p
    after = frames >= at[-1]
    for name, arr in props.items():
        arr[after] = float(getattr(keys[-1], name))
    return Track(**props)


def runs(values: np.ndarray) -> list[tuple[int, float]]:
    """``values`` as ``(first_frame, value)`` runs of equal values, in frame order."""
    if len(values) == 0:
        return []
    starts = np.flatnonzero(np.diff(values)) + 1
    return [(0, float(values[0]))] + [(int(i), float(values[i])) for i in starts]


def piecewise_expr(values: np.ndarray, fps: float) -> str:
    """An FFmpeg expression of ``t`` (the frame's time in seconds) equal to ``values[i]``
    (rounded to integers) on frame ``i``, holding the last value past the end: a balanced
    ``if(lt(...))`` tree over runs of equal values (O(log runs) a frame). Run boundaries sit
    half a frame early, so timestamp rounding never picks a neighbour's value. (``t``, not
    ``n``: ``overlay``'s frame counter runs ahead of the frame it blends.)"""
    segs = runs(np.round(values).astype(np.int64))

    def tree(lo: int, hi: int) -> str:
        if hi - lo == 1:
            return str(int(segs[lo][1]))
        mid = (lo + hi) // 2
        edge = f"{(segs[mid][0] - 0.5) / fps:.6f}"
        return f"if(lt(t,{edge}),{tree(lo, mid)},{tree(mid, hi)})"

    return tree(0, len(segs)) if segs else "0"
