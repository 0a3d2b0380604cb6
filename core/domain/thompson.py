"""Thompson-sampling math (SPEC §3.4): Beta evidence with time decay, draws, allocation.

Evidence comes from *cumulative* snapshots of an ad (lifetime trials and successes as of a
time). Folding a snapshot adds the increment since the previous one; with a half-life, older
evidence is scaled by ``0.5 ** (age_hours / half_life_h)``. Folding is order-dependent, so
snapshots are folded by ``observed_at``; re-folding the last snapshot is a no-op.

Arrays: ``alpha``, ``beta`` and ``weights`` have shape ``(n_arms,)``; draws have shape
``(n_draws, n_arms)``. Reference: Russo et al., "A Tutorial on Thompson Sampling" (2018).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

Metric = Literal["ctr", "cvr", "conversion"]
METRICS: tuple[str, ...] = ("ctr", "cvr", "conversion")
DRAW_CHUNK_ELEMENTS = 1 << 20  # Beta draws held in memory at once


class InfeasibleAllocationError(ValueError):
    """Share bounds that no split of the budget can satisfy."""


def trials_successes(
    metric: str, impressions: int, clicks: int, conversions: int
) -> tuple[int, int]:
    """(trials, successes) of one cumulative snapshot for ``metric``.

    ``ctr``: clicks per impression; ``cvr``: conversions per click; ``conversion``:
    conversions per impression.
    """
    if metric == "ctr":
        return impressions, clicks
    if metric == "cvr":
        return clicks, conversions
    if metric == "conversion":
        return impressions, conversions
    raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")


def decay_factor(hours: float, half_life_h: float | None) -> float:
    """Weight left after ``hours`` (1.0 without decay or for non-positive ages)."""
    if half_life_h is None or hours <= 0:
        return 1.0
    return 0.5 ** (hours / half_life_h)


@dataclass(frozen=True)
class Snapshot:
    """Cumulative trials and successes of an arm as of ``at`` (epoch seconds)."""

    at: float
    trials: int
    successes: int


@dataclass(frozen=True)
class Evidence:
    """Decayed evidence of one arm as of ``at``, and the last snapshot folded into it."""

    successes: float = 0.0
    failures: float = 0.0
    at: float | None = None
    last_trials: int = 0
    last_successes: int = 0

    def same_snapshot(self, snap: Snapshot) -> bool:
        return (
            self.at == snap.at
            and self.last_trials == snap.trials
            and self.last_successes == snap.successes
        )


def fold(ev: Evidence, snap: Snapshot, half_life_h: float | None) -> Evidence:
    """Add the increment from ``ev``'s last snapshot to ``snap``, decaying older evidence.

    ``snap`` must not be older than ``ev.at``. Evidence never goes below zero (a platform
    correction can lower cumulative counts).
    """
    if ev.at is not None and snap.at < ev.at:
        raise ValueError("snapshots must be folded in observed_at order")
    f = 1.0 if ev.at is None else decay_factor((snap.at - ev.at) / 3600.0, half_life_h)
    d_succ = snap.successes - ev.last_successes
    d_fail = (snap.trials - snap.successes) - (ev.last_trials - ev.last_successes)
    return Evidence(
        successes=max(ev.successes * f + d_succ, 0.0),
        failures=max(ev.failures * f + d_fail, 0.0),
        at=snap.at,
        last_trials=snap.trials,
        last_successes=snap.successes,
    )


def fold_all(snapshots: Iterable[Snapshot], half_life_h: float | None) -> Evidence:
    """Evidence from snapshots already in fold order (``observed_at``, then insertion)."""
    ev = Evidence()
    for snap in snapshots:
        ev = fold(ev, snap, half_life_h)
    return ev


def posterior(
    successes: np.ndarray,
    failures: np.ndarray,
    at: np.ndarray,
    *,
    prior_alpha: float,
    prior_beta: float,
    half_life_h: float | None,
    now: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Beta parameters as of ``now`` (epoch s); ``at`` is NaN for arms without evidence.

    Without decay (or ``now=None``) this is ``prior + evidence``.
    """
    if half_life_h is None or now is None:
        return prior_alpha + successes, prior_beta + failures
    age_h = np.maximum(now - np.nan_to_num(at, nan=now), 0.0) / 3600.0
    f = np.exp2(-age_h / half_life_h)
    return prior_alpha + successes * f, prior_beta + failures * f


def _check_params(alpha: np.ndarray, beta: np.ndarray) -> None:
    if alpha.ndim != 1 or alpha.shape != beta.shape or alpha.size == 0:
        raise ValueError("alpha and beta must be non-empty 1-d arrays of equal shape")
    if not (np.all(alpha > 0) and np.all(beta > 0)):
        raise ValueError("alpha and beta must be > 0")


def _draw_chunks(
    alpha: np.ndarray, beta: np.ndarray, n: int, rng: np.random.Generator
) -> Iterable[np.ndarray]:
    rows = max(1, DRAW_CHUNK_ELEMENTS // alpha.size)
    for start in range(0, n, rows):
        yield rng.beta(alpha, beta, size=(min(rows, n - start), alpha.size))


def select(alpha: np.ndarray, beta: np.ndarray, rng: np.random.Generator, n: int = 1) -> np.ndarray:
    """``n`` Thompson choices: arm indices, shape ``(n,)`` (one Beta draw per arm each)."""
    _check_params(alpha, beta)
    if n < 1:
        raise ValueError("n must be >= 1")
    if n == 1:
        return np.array([int(np.argmax(rng.beta(alpha, beta)))])
    return np.concatenate([d.argmax(axis=1) for d in _draw_chunks(alpha, beta, n, rng)])


def prob_best(
    alpha: np.ndarray, beta: np.ndarray, rng: np.random.Generator, n_draws: int
) -> np.ndarray:
    """Share of ``n_draws`` joint draws in which each arm is best, shape ``(n_arms,)``."""
    picks = select(alpha, beta, rng, n_draws)
    return np.bincount(picks, minlength=alpha.size) / n_draws


def allocate_shares(weights: np.ndarray, min_share: float, max_share: float) -> np.ndarray:
    """Shares proportional to ``weights`` within ``[min_share, max_share]``, summing to 1.

    Solves ``sum(clip(lam * w, lo, hi)) = 1`` for ``lam`` (water-filling). Arms with weight
    zero (or under 1e-12 of the largest) get ``min_share``, unless the others are all at
    ``max_share``; then they split the rest equally. All-zero weights split equally.
    """
    w = np.asarray(weights, dtype=float)
    k = w.size
    if w.ndim != 1 or k == 0 or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be a non-empty 1-d array of finite values >= 0")
    if not 0 <= min_share <= max_share <= 1:
        raise ValueError("need 0 <= min_share <= max_share <= 1")
    eps = 1e-12
    if k * min_share > 1 + eps or k * max_share < 1 - eps:
        raise InfeasibleAllocationError(
            f"{k} arms cannot each get between {min_share} and {max_share} of the budget"
        )
    if w.max() == 0:
        w = np.ones(k)
    w = w / w.max()
    w[w < 1e-12] = 0.0  # negligible next to the largest weight (and safe from overflow)
    pos = w > 0
    n_pos = int(pos.sum())
    if n_pos * max_share + (k - n_pos) * min_share <= 1:
        if n_pos == k:
            return np.full(k, 1.0 / k)
        rest = (1 - n_pos * max_share) / (k - n_pos)
        return np.where(pos, max_share, rest)

    def total(lam: float) -> float:
        return float(np.clip(lam * w, min_share, max_share).sum())

    lo, hi = 0.0, max_share / w[pos].min()
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if total(mid) < 1 else (lo, mid)
    # On the final segment the sum is linear in lam: solve it exactly.
    raw = hi * w
    free = (raw > min_share) & (raw < max_share)
    shares = np.clip(raw, min_share, max_share)
    if free.any():
        lam = (1 - shares[~free].sum()) / w[free].sum()
        shares[free] = np.clip(lam * w[free], min_share, max_share)
    return _settle(shares, min_share, max_share)


def _settle(shares: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Move the floating-point residual onto the arm with the most room for it."""
    residual = 1.0 - math.fsum(shares)
    room = (hi - shares) if residual > 0 else (shares - lo)
    i = int(np.argmax(room))
    shares[i] += residual
    return shares


def split_budget(total_budget: float, shares: np.ndarray) -> np.ndarray:
    """Budget amounts, shape ``(n_arms,)``, from shares that sum to 1; they sum to the budget."""
    if not (math.isfinite(total_budget) and total_budget >= 0):
        raise ValueError("total_budget must be a finite number >= 0")
    amounts = shares * total_budget
    amounts[int(np.argmax(amounts))] += total_budget - math.fsum(amounts)
    return amounts


def split_cents(total_budget: float, shares: np.ndarray) -> np.ndarray:
    """Budget amounts in whole cents, shape ``(n_arms,)``, that add up to the budget in cents:
    each arm gets its share rounded down, the cents left go to the largest remainders."""
    if not (math.isfinite(total_budget) and total_budget >= 0):
        raise ValueError("total_budget must be a finite number >= 0")
    cents = round(total_budget * 100)
    raw = shares * cents
    amounts = np.floor(raw)
    left = min(max(int(cents - amounts.sum()), 0), len(amounts))
    amounts[np.argsort(amounts - raw, kind="stable")[:left]] += 1
    return amounts / 100


def allocate(
    total_budget: float, weights: np.ndarray, min_share: float, max_share: float
) -> np.ndarray:
    """Budget amounts, shape ``(n_arms,)``: ``total_budget`` split by ``allocate_shares``."""
    return split_budget(total_budget, allocate_shares(weights, min_share, max_share))
