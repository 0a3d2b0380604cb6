"""Thompson-sampling math (SPEC §3.4): evidence folding, draws, allocation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain.thompson import (
    Evidence,
    InfeasibleAllocationError,
    Snapshot,
    allocate,
    allocate_shares,
    decay_factor,
    fold,
    fold_all,
    posterior,
    prob_best,
    select,
    split_cents,
    trials_successes,
)

H = 3600.0


def test_trials_successes_per_metric() -> None:
    assert trials_successes("ctr", 1000, 30, 3) == (1000, 30)
    assert trials_successes("cvr", 1000, 30, 3) == (30, 3)
    assert trials_successes("conversion", 1000, 30, 3) == (1000, 3)
    with pytest.raises(ValueError, match="metric"):
        trials_successes("cpc", 1, 1, 1)


def test_fold_without_decay_is_latest_cumulative() -> None:
    snaps = [Snapshot(0, 100, 5), Snapshot(H, 300, 12), Snapshot(2 * H, 1000, 40)]
    ev = fold_all(snaps, None)
    assert (ev.successes, ev.failures) == (40, 960)
    assert (ev.at, ev.last_trials, ev.last_successes) == (2 * H, 1000, 40)


def test_refolding_the_last_snapshot_is_a_no_op() -> None:
    ev = fold_all([Snapshot(0, 100, 5), Snapshot(H, 300, 12)], 24.0)
    assert fold(ev, Snapshot(H, 300, 12), 24.0) == ev


def test_decay_halves_old_evidence_per_half_life() -> None:
    ev = fold_all([Snapshot(0, 100, 10), Snapshot(24 * H, 200, 30)], 24.0)
    # first increment (10 successes, 90 failures) is one half-life old at the second snapshot
    assert ev.successes == pytest.approx(10 * 0.5 + 20)
    assert ev.failures == pytest.approx(90 * 0.5 + 80)
    assert decay_factor(48, 24.0) == 0.25 and decay_factor(48, None) == 1.0


def test_fold_rejects_out_of_order_and_clamps_corrections() -> None:
    ev = fold_all([Snapshot(H, 100, 10)], None)
    with pytest.raises(ValueError, match="order"):
        fold(ev, Snapshot(0, 50, 5), None)
    before = Evidence(successes=2.0, failures=1.0, at=0.0, last_trials=100, last_successes=10)
    corrected = fold(before, Snapshot(H, 50, 2), 1.0)
    assert corrected.successes >= 0 and corrected.failures >= 0


def test_posterior_decays_to_now() -> None:
    s, f, at = np.array([10.0, 0.0]), np.array([30.0, 0.0]), np.array([0.0, np.nan])
    a, b = posterior(s, f, at, prior_alpha=1, prior_beta=2, half_life_h=1.0, now=2 * H)
    np.testing.assert_allclose(a, [1 + 2.5, 1])
    np.testing.assert_allclose(b, [2 + 7.5, 2])
    a, b = posterior(s, f, at, prior_alpha=1, prior_beta=2, half_life_h=None, now=2 * H)
    np.testing.assert_allclose(a, [11, 1])


def test_select_shapes_and_validation() -> None:
    rng = np.random.default_rng(0)
    alpha, beta = np.ones(5), np.ones(5)
    assert select(alpha, beta, rng).shape == (1,)
    picks = select(alpha, beta, rng, 1000)
    assert picks.shape == (1000,) and picks.min() >= 0 and picks.max() <= 4
    with pytest.raises(ValueError, match="> 0"):
        select(np.array([1.0, 0.0]), np.ones(2), rng)
    with pytest.raises(ValueError, match="n must"):
        select(alpha, beta, rng, 0)


@settings(max_examples=30, deadline=None)
@given(
    n_arms=st.integers(2, 50),
    best=st.data(),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_clearly_better_arm_wins_most_draws(n_arms: int, best: st.DataObject, seed: int) -> None:
    i = best.draw(st.integers(0, n_arms - 1))
    alpha = np.full(n_arms, 1 + 20.0)  # 2% CTR over 1,000 impressions
    beta = np.full(n_arms, 1 + 980.0)
    alpha[i], beta[i] = 1 + 60.0, 1 + 940.0  # 6%
    picks = select(alpha, beta, np.random.default_rng(seed), 200)
    assert np.mean(picks == i) > 0.95


def test_prob_best_sums_to_one_and_ranks() -> None:
    rng = np.random.default_rng(1)
    p = prob_best(np.array([10.0, 20.0, 30.0]), np.array([90.0, 80.0, 70.0]), rng, 5000)
    assert p.sum() == pytest.approx(1.0)
    assert p[2] > p[1] > p[0]


bounds = st.tuples(st.floats(0, 0.3), st.floats(0.05, 1.0)).filter(lambda b: b[0] <= b[1])


@settings(max_examples=300, deadline=None)
@given(
    weights=st.lists(st.floats(0, 1e3, allow_nan=False), min_size=1, max_size=60),
    bnds=bounds,
    budget=st.floats(0, 1e7, allow_nan=False),
)
def test_allocation_sums_to_budget_within_bounds(
    weights: list[float], bnds: tuple[float, float], budget: float
) -> None:
    lo, hi = bnds
    k = len(weights)
    if k * lo > 1 + 1e-12 or k * hi < 1 - 1e-12:  # bounds met to rounding are accepted
        with pytest.raises(InfeasibleAllocationError):
            allocate(budget, np.array(weights), lo, hi)
        return
    amounts = allocate(budget, np.array(weights), lo, hi)
    tol = 1e-9 * max(budget, 1.0)
    assert math.isclose(math.fsum(amounts), budget, rel_tol=1e-12, abs_tol=1e-9)
    assert np.all(amounts >= lo * budget - tol)
    assert np.all(amounts <= hi * budget + tol)


@settings(max_examples=200, deadline=None)
@given(
    weights=st.lists(st.floats(0.01, 1.0), min_size=2, max_size=30),
    bnds=bounds,
)
def test_allocation_is_monotone_in_weight(weights: list[float], bnds: tuple[float, float]) -> None:
    lo, hi = bnds
    if len(weights) * lo > 1 or len(weights) * hi < 1:
        return
    w = np.array(weights)
    shares = allocate_shares(w, lo, hi)
    order = np.argsort(w, kind="stable")
    assert np.all(np.diff(shares[order]) >= -1e-9)


def test_allocation_is_proportional_inside_bounds() -> None:
    shares = allocate_shares(np.array([0.5, 0.3, 0.2]), 0.0, 1.0)
    np.testing.assert_allclose(shares, [0.5, 0.3, 0.2])
    shares = allocate_shares(np.array([0.9, 0.05, 0.05]), 0.1, 0.6)
    np.testing.assert_allclose(shares, [0.6, 0.2, 0.2])
    shares = allocate_shares(np.array([1.0, 0.0, 0.0, 0.0]), 0.05, 0.4)
    np.testing.assert_allclose(shares, [0.4, 0.2, 0.2, 0.2])
    np.testing.assert_allclose(allocate_shares(np.zeros(4), 0.0, 1.0), [0.25] * 4)


@pytest.mark.parametrize(
    ("weights", "lo", "hi", "exc", "match"),
    [
        ([1.0, 1.0], 0.6, 0.9, InfeasibleAllocationError, "between"),
        ([1.0, 1.0, 1.0], 0.0, 0.3, InfeasibleAllocationError, "between"),
        ([1.0], 0.5, 0.4, ValueError, "min_share"),
        ([-1.0, 2.0], 0.0, 1.0, ValueError, "weights"),
        ([], 0.0, 1.0, ValueError, "weights"),
    ],
)
def test_allocation_rejects(weights, lo, hi, exc, match) -> None:  # noqa: ANN001
    with pytest.raises(exc, match=match):
        allocate_shares(np.array(weights), lo, hi)


@settings(max_examples=200, deadline=None)
@given(
    budget=st.floats(0, 1e9),
    weights=st.lists(st.floats(0.01, 1), min_size=1, max_size=20),
)
def test_split_cents_adds_up_to_the_budget_in_cents(budget: float, weights: list[float]) -> None:
    shares = np.array(weights) / math.fsum(weights)
    amounts = split_cents(budget, shares)
    cents = np.round(amounts * 100)
    assert np.allclose(amounts * 100, cents)
    assert int(cents.sum()) == round(budget * 100)
    assert np.all(np.abs(amounts - shares * budget) <= 0.01 + 1e-9 * budget)


def test_split_cents_keeps_exact_shares() -> None:
    assert split_cents(1000, np.array([0.1, 0.6, 0.3])).tolist() == [100, 600, 300]
    assert split_cents(10, np.array([1, 1, 1]) / 3).tolist() == [3.34, 3.33, 3.33]


def test_negative_budget_rejected() -> None:
    with pytest.raises(ValueError, match="total_budget"):
        allocate(-1.0, np.ones(2), 0.0, 1.0)
