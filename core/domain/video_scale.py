"""How ``creative_features`` scales raw video measurements to about 0..1, and back.

One place for the scales, so the variant planner can read a winner's feature vector in
seconds, W:H and cuts per second (``creative_features`` writes them with these functions).
"""

from __future__ import annotations

import math

DURATION_SCALE_S = 30.0  # duration: s / (s + 30)
MOTION_SCALE = 0.02  # motion: mean |Δluma| / (mean |Δluma| + 0.02)
CUT_RATE_SCALE = 0.5  # cut rate: cuts per second / (cuts per second + 0.5)


def squash(x: float, scale: float) -> float:
    """``x / (x + scale)``: 0 → 0, ``scale`` → 0.5, ∞ → 1."""
    return float(x / (x + scale)) if x > 0 else 0.0


def unsquash(y: float, scale: float) -> float:
    """The inverse of :func:`squash` (``y`` in 0..1; 1 or more is infinite)."""
    if y <= 0:
        return 0.0
    return math.inf if y >= 1 else float(scale * y / (1 - y))


def aspect_feature(aspect: float) -> float:
    """W/H as ``log2(W/H) / 4 + 0.5`` clipped to 0..1 (1:1 → 0.5, 9:16 → 0.29)."""
    return min(max(math.log2(aspect) / 4 + 0.5, 0.0), 1.0)


def aspect_from_feature(y: float) -> float:
    """The W/H of an ``aspect`` feature (the inverse of :func:`aspect_feature`)."""
    return float(2 ** ((y - 0.5) * 4))
