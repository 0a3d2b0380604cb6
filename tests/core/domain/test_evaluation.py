"""Held-out metrics on aggregated rows equal the per-impression metrics; the promotion rule."""

from __future__ import annotations

import numpy as np
import pytest

from core.domain import evaluation


def _expand(p, n, c):
    """One row per impression (the definition the aggregated metrics must match)."""
    scores = np.repeat(p, n)
    labels = np.concatenate(
        [np.r_[np.ones(ci), np.zeros(ni - ci)] for ni, ci in zip(n, c, strict=True)]
    )
    return scores, labels


def _brute_auc(scores, labels):
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def test_auc_and_log_loss_match_per_impression_definitions() -> None:
    rng = np.random.default_rng(0)
    p = rng.choice([0.1, 0.2, 0.3, 0.5], size=30)  # ties on purpose
    n = rng.integers(1, 12, size=30)
    c = rng.binomial(n, p)
    scores, labels = _expand(p, n, c)
    assert evaluation.auc(p, n, c) == pytest.approx(_brute_auc(scores, labels))
    expected = -np.mean(labels * np.log(scores) + (1 - labels) * np.log(1 - scores))
    assert evaluation.log_loss(p, n, c) == pytest.approx(expected)


def test_calibration_of_a_calibrated_model_is_close() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0.01, 0.2, 2000)
    n = np.full(2000, 1000)
    c = rng.binomial(n, p)
    cal = evaluation.calibration(p, n, c, bins=10)
    assert cal["observed_over_expected"] == pytest.approx(1.0, abs=0.02)
    assert cal["ece"] < 0.005 and len(cal["bins"]) == 10


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([0.1], [10], [11]), "clicks must be in"),
        (([0.1, 0.2], [10], [1]), "same length"),
        (([], [], []), "at least one row"),
    ],
)
def test_bad_inputs_are_refused(args, match) -> None:
    with pytest.raises(ValueError, match=match):
        evaluation.binomial_losses(*(np.asarray(a, dtype=float) for a in args))


def _losses(seed: int, better: float):
    rng = np.random.default_rng(seed)
    w = rng.integers(100, 1000, 400).astype(float)
    champion = w * rng.normal(0.2, 0.02, 400)
    challenger = champion * (1 - better) + w * rng.normal(0, 0.005, 400)
    return challenger, champion, w


def test_first_model_is_promoted() -> None:
    challenger, _, w = _losses(0, 0.0)
    d = evaluation.decide(challenger, None, w, margin=0.01, samples=200, confidence=0.95, seed=0)
    assert d.action == "promoted" and d.reason == "no champion yet"


def test_clear_win_is_promoted_and_a_tie_or_small_win_is_not() -> None:
    kw = {"margin": 0.01, "samples": 500, "confidence": 0.95, "seed": 0}
    win = evaluation.decide(*_losses(1, 0.05), **kw)
    assert win.action == "promoted" and win.interval[0] > 0
    tie = evaluation.decide(*_losses(2, 0.0), **kw)
    assert tie.action == "kept"
    small = evaluation.decide(*_losses(3, 0.005), **kw)  # credible but under the margin
    assert small.action == "kept" and "margin" in small.reason
    worse = evaluation.decide(*_losses(4, -0.05), **kw)
    assert worse.action == "kept"
