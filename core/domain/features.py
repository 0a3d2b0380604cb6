"""The creative feature vector of the winner memory: metrics, copy text, video.

``vector = [w_m * metrics, w_t * text, w_v * video]`` with each block unit-length, so the
cosine similarity of two vectors is a weighted mix of the blocks' cosines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

METRIC_DIM = 4


@dataclass(frozen=True)
class BlockWeights:
    metrics: float = 0.3
    text: float = 0.5
    video: float = 0.2


def creative_text(hook_text: str | None, cta: str | None, template: str | None) -> str:
    """The copy that the text embedding reads."""
    return " | ".join(p for p in (hook_text, cta, template) if p)


def metric_block(ctr: float, roas: float, impressions: int) -> np.ndarray:
    """Normalised metrics: CTR (x10, capped), ROAS (log), reach (log10), a bias term."""
    return np.array(
        [
            min(max(ctr, 0.0) * 10.0, 1.0),
            math.log1p(max(roas, 0.0)) / math.log1p(10.0),
            math.log10(max(impressions, 1)) / 7.0,
            0.25,
        ],
        dtype=np.float32,
    )


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def feature_vector(
    *,
    ctr: float,
    roas: float,
    impressions: int,
    text_vec: np.ndarray,
    video: Sequence[float] | None,
    video_dim: int,
    weights: BlockWeights = BlockWeights(),
) -> np.ndarray:
    """The full vector, ``shape (METRIC_DIM + len(text_vec) + video_dim,)``, unit length."""
    video_arr = np.zeros(video_dim, dtype=np.float32)
    if video is not None and video_dim:
        vals = np.asarray(list(video)[:video_dim], dtype=np.float32)
        video_arr[: len(vals)] = np.nan_to_num(vals)
    parts = [
        weights.metrics * _unit(metric_block(ctr, roas, impressions)),
        weights.text * _unit(np.asarray(text_vec, dtype=np.float32)),
        weights.video * _unit(video_arr),
    ]
    return _unit(np.concatenate(parts)).astype(np.float32)


class VectorIndex:
    """Cosine k-NN over unit vectors kept in one matrix (exact search; fine to ~10^5 rows)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}
        self._rows = np.zeros((16, dim), dtype=np.float32)  # capacity doubles when full

    @property
    def _matrix(self) -> np.ndarray:
        return self._rows[: len(self._ids)]

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, key: str) -> bool:
        return key in self._pos

    def upsert(self, key: str, vector: np.ndarray) -> None:
        vec = _unit(np.asarray(vector, dtype=np.float32))
        if vec.shape != (self.dim,):
            raise ValueError(f"vector has shape {vec.shape}, index dimension is {self.dim}")
        if key in self._pos:
            self._rows[self._pos[key]] = vec
            return
        n = len(self._ids)
        if n == len(self._rows):  # amortised O(1) appends, so a rebuild is linear
            self._rows = np.concatenate([self._rows, np.zeros_like(self._rows)])
        self._rows[n] = vec
        self._pos[key] = n
        self._ids.append(key)

    def search(
        self, query: np.ndarray, k: int, exclude: str | None = None
    ) -> list[tuple[str, float]]:
        """The ``k`` nearest keys by cosine similarity, best first."""
        if not self._ids:
            return []
        sims = self._matrix @ _unit(np.asarray(query, dtype=np.float32))
        if exclude is not None and exclude in self._pos:
            sims[self._pos[exclude]] = -np.inf
        k = min(k, len(self._ids))
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top])]
        return [(self._ids[i], float(sims[i])) for i in top if np.isfinite(sims[i])]
