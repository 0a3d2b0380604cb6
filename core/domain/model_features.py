"""The CTR model's input: a creative's raw features -> one fixed-length numeric vector.

The same encoding is used to build training data and to serve, so a served creative is
scored exactly as the training rows were. Raw features (all optional):

- ``video_features``: the ``creative_features`` vector (padded/cut to ``video_dim``),
- ``hook_text``: word count, has a question mark, has a digit, has "you"/"your",
- ``cta`` and ``template``: one-hot into ``hash_buckets`` buckets by a stable crc32 hash
  (no vocabulary to store; unseen values land in a bucket like any other).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

HOOK_FEATURES = ("hook_words", "hook_question", "hook_digit", "hook_you")
_WORD = re.compile(r"\w+")


def feature_names(video_dim: int, hash_buckets: int) -> list[str]:
    """Column names of the encoded vector, in order."""
    return [
        *(f"video_{i}" for i in range(video_dim)),
        *HOOK_FEATURES,
        *(f"cta_{i}" for i in range(hash_buckets)),
        *(f"template_{i}" for i in range(hash_buckets)),
    ]


def bucket(value: str, buckets: int) -> int:
    """Stable bucket of a categorical value (same in every process and run)."""
    return zlib.crc32(value.strip().lower().encode()) % buckets


def _hook(text: str | None) -> list[float]:
    text = text or ""
    words = _WORD.findall(text.lower())
    return [
        float(len(words)),
        float("?" in text),
        float(any(c.isdigit() for c in text)),
        float(any(w in ("you", "your") for w in words)),
    ]


def encode(features: Mapping[str, Any], *, video_dim: int, hash_buckets: int) -> np.ndarray:
    """One creative's vector, shape ``(len(feature_names(video_dim, hash_buckets)),)``.

    Raises ``ValueError`` for a non-finite video feature.
    """
    video = np.zeros(video_dim, dtype=np.float64)
    raw: Sequence[float] = features.get("video_features") or ()
    n = min(len(raw), video_dim)
    if n:
        values = np.asarray(raw[:n], dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise ValueError("video_features must be finite numbers")
        video[:n] = values
    cta = np.zeros(hash_buckets)
    template = np.zeros(hash_buckets)
    if features.get("cta"):
        cta[bucket(str(features["cta"]), hash_buckets)] = 1.0
    if features.get("template"):
        template[bucket(str(features["template"]), hash_buckets)] = 1.0
    return np.concatenate([video, _hook(features.get("hook_text")), cta, template])


def encode_many(
    rows: Iterable[Mapping[str, Any]], *, video_dim: int, hash_buckets: int
) -> np.ndarray:
    """Shape ``(n_rows, n_features)`` float32 matrix of ``encode`` for each row."""
    width = len(feature_names(video_dim, hash_buckets))
    vectors = [encode(r, video_dim=video_dim, hash_buckets=hash_buckets) for r in rows]
    if not vectors:
        return np.zeros((0, width), dtype=np.float32)
    return np.vstack(vectors).astype(np.float32)
