"""Off-policy evaluation: the value of an evaluation policy from logged bandit feedback.

Each logged round ``i`` holds the action taken ``a_i`` (an item index), its reward ``r_i``
and ``p_i``, the probability the *logging* policy gave ``a_i`` (the propensity, ``pscore``).
The evaluation policy ``pi`` gives each round a distribution over actions (``action_dist``);
``w_i = pi(a_i | x_i) / p_i`` is the importance weight. Estimators (all Σ over rounds):

- IPS: ``V = (1/n) Σ w_i r_i`` (unbiased when ``p_i > 0`` wherever ``pi`` acts).
- SNIPS: ``V = Σ w_i r_i / Σ w_i`` (self-normalised: slightly biased, lower variance).
- DR: ``V = (1/n) Σ [Σ_a pi(a | x_i) q(x_i, a) + w_i (r_i - q(x_i, a_i))]`` with a reward
  model ``q``; unbiased when the propensities are right, whatever ``q``.

Each returns an :class:`Estimate` with a percentile bootstrap interval: rows are resampled
with replacement ``rounds`` times and the estimator recomputed on each resample (the reward
model stays fixed). Arrays: ``reward``, ``action``, ``pscore`` have shape ``(n_rounds,)``;
``action_dist`` ``(n_rounds, n_actions)`` (or ``(n_rounds,)``: only ``pi(a_i | x_i)``, enough
for IPS and SNIPS); ``estimated_rewards`` ``(n_rounds, n_actions)`` or ``(n_actions,)``.

References: Horvitz & Thompson (1952); Swaminathan & Joachims, "The Self-Normalized
Estimator for Counterfactual Learning" (2015); Dudík, Langford & Li, "Doubly Robust Policy
Evaluation and Learning" (2011); Saito et al., "Open Bandit Dataset and Pipeline" (2021).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

ESTIMATORS: tuple[str, ...] = ("ips", "snips", "dr")
ROW_SUM_TOL = 1e-6
BOOT_CHUNK_ELEMENTS = 1 << 22  # resampled indices held in memory at once

Terms = tuple[np.ndarray, np.ndarray | None]  # per-round numerator, denominator (None: 1)


@dataclass(frozen=True)
class Estimate:
    """A policy value with its bootstrap interval ``[low, high]`` at ``confidence``."""

    name: str
    value: float
    low: float
    high: float
    n: int
    confidence: float
    rounds: int
    std_error: float  # standard deviation of the bootstrap estimates

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Rounds:
    """Validated inputs: arrays of shape ``(n,)``; ``dist`` ``(n, n_actions)`` or None."""

    reward: np.ndarray
    action: np.ndarray
    pscore: np.ndarray
    pi: np.ndarray  # pi(a_i | x_i)
    dist: np.ndarray | None

    @property
    def weight(self) -> np.ndarray:
        return self.pi / self.pscore


def _vector(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-d array, got shape {arr.shape}")
    return arr


def _check(reward: Any, action: Any, pscore: Any, action_dist: Any) -> _Rounds:
    r = _vector("reward", reward).astype(float)
    a = _vector("action", action)
    p = _vector("pscore", pscore).astype(float)
    n = r.size
    if a.size != n or p.size != n:
        raise ValueError(
            f"reward, action and pscore must have the same length, got {n}, {a.size}, {p.size}"
        )
    if not np.all(np.isfinite(r)):
        raise ValueError("reward must be finite")
    if not np.issubdtype(a.dtype, np.integer) or np.any(a < 0):
        raise ValueError("action must hold integer action indices >= 0")
    if not (np.all(np.isfinite(p)) and np.all(p > 0) and np.all(p <= 1)):
        raise ValueError("pscore must lie in (0, 1]")
    dist = np.asarray(action_dist, dtype=float)
    if dist.shape[:1] != (n,) or dist.ndim not in (1, 2):
        raise ValueError(
            f"action_dist must have shape (n_rounds,) or (n_rounds, n_actions) with "
            f"n_rounds={n}, got {dist.shape}"
        )
    if not (np.all(np.isfinite(dist)) and np.all(dist >= 0) and np.all(dist <= 1)):
        raise ValueError("action_dist must hold probabilities in [0, 1]")
    if dist.ndim == 1:
        return _Rounds(r, a.astype(np.intp), p, dist, None)
    if a.max() >= dist.shape[1]:
        raise ValueError(f"action {int(a.max())} is out of range for {dist.shape[1]} actions")
    sums = dist.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1) > ROW_SUM_TOL)
    if bad.size:
        raise ValueError(f"action_dist rows must sum to 1: row {bad[0]} sums to {sums[bad[0]]:.6g}")
    a = a.astype(np.intp)
    return _Rounds(r, a, p, dist[np.arange(n), a], dist)


def _check_bootstrap(rounds: int, confidence: float) -> None:
    if not (isinstance(rounds, int | np.integer) and rounds >= 1):
        raise ValueError(f"rounds must be an integer >= 1, got {rounds!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")


def _ratio(num: np.ndarray, den: np.ndarray | float) -> np.ndarray:
    den = np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)


def _bootstrap(terms: list[Terms], rounds: int, rng: np.random.Generator) -> np.ndarray:
    """Estimates on ``rounds`` shared resamples, shape ``(len(terms), rounds)``.

    An estimate is ``Σ num / Σ den`` over the resampled rows (NaN when ``Σ den`` is 0).
    """
    n = terms[0][0].size
    out = np.empty((len(terms), rounds))
    step = max(1, BOOT_CHUNK_ELEMENTS // n)
    for start in range(0, rounds, step):
        stop = min(start + step, rounds)
        idx = rng.integers(0, n, size=(stop - start, n))
        for j, (num, den) in enumerate(terms):
            bottom = float(n) if den is None else den[idx].sum(axis=1)
            out[j, start:stop] = _ratio(num[idx].sum(axis=1), bottom)
    return out


def _summarise(
    name: str, terms: Terms, boot: np.ndarray, confidence: float, rounds: int
) -> Estimate:
    num, den = terms
    value = float(num.mean()) if den is None else float(_ratio(num.sum(), den.sum()))
    finite = boot[np.isfinite(boot)]
    if finite.size:
        tail = (1 - confidence) / 2
        low, high = (float(q) for q in np.quantile(finite, [tail, 1 - tail]))
        std = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
    else:
        low = high = std = math.nan
    return Estimate(name, value, low, high, num.size, confidence, rounds, std)


def _run(
    named: list[tuple[str, Terms]], rounds: int, confidence: float, rng: np.random.Generator
) -> dict[str, Estimate]:
    _check_bootstrap(rounds, confidence)
    boot = _bootstrap([t for _, t in named], rounds, rng)
    return {
        name: _summarise(name, t, boot[j], confidence, rounds) for j, (name, t) in enumerate(named)
    }


def _ips_terms(d: _Rounds) -> Terms:
    return d.weight * d.reward, None


def _snips_terms(d: _Rounds) -> Terms:
    w = d.weight
    if not np.any(w > 0):
        raise ValueError(
            "SNIPS is undefined: the evaluation policy gives probability 0 to every logged action"
        )
    return w * d.reward, w


def mean_reward_model(action: Any, reward: Any, n_actions: int) -> np.ndarray:
    """The DR reward model used when none is given: ``q(x, a)`` = mean logged reward of ``a``.

    Context is ignored (``q`` does not depend on ``x``); an action never logged gets the mean
    of all rewards. Shape ``(n_actions,)``. Fitted on the same rows it is then used on, so DR
    keeps a small in-sample bias; the bootstrap does not refit it.
    """
    a = np.asarray(action, dtype=np.intp)
    r = np.asarray(reward, dtype=float)
    counts = np.bincount(a, minlength=n_actions)
    sums = np.bincount(a, weights=r, minlength=n_actions)
    fallback = float(r.mean()) if r.size else 0.0
    return np.where(counts > 0, sums / np.maximum(counts, 1), fallback)


def _dr_terms(d: _Rounds, estimated_rewards: Any | None) -> Terms:
    if d.dist is None:
        raise ValueError("DR needs the full action_dist, shape (n_rounds, n_actions)")
    n, k = d.dist.shape
    if estimated_rewards is None:
        q = np.broadcast_to(mean_reward_model(d.action, d.reward, k), (n, k))
    else:
        q = np.asarray(estimated_rewards, dtype=float)
        if q.shape not in ((n, k), (k,)):
            raise ValueError(
                f"estimated_rewards must have shape ({n}, {k}) or ({k},), got {q.shape}"
            )
        if not np.all(np.isfinite(q)):
            raise ValueError("estimated_rewards must be finite")
        q = np.broadcast_to(q, (n, k))
    direct = np.einsum("ij,ij->i", d.dist, q)
    q_logged = q[np.arange(n), d.action]
    return direct + d.weight * (d.reward - q_logged), None


def ips(
    *,
    reward: Any,
    action: Any,
    pscore: Any,
    action_dist: Any,
    rounds: int,
    confidence: float,
    rng: np.random.Generator,
) -> Estimate:
    """Inverse propensity scoring: ``mean(w_i r_i)``."""
    d = _check(reward, action, pscore, action_dist)
    return _run([("ips", _ips_terms(d))], rounds, confidence, rng)["ips"]


def snips(
    *,
    reward: Any,
    action: Any,
    pscore: Any,
    action_dist: Any,
    rounds: int,
    confidence: float,
    rng: np.random.Generator,
) -> Estimate:
    """Self-normalised IPS: ``Σ w_i r_i / Σ w_i``."""
    d = _check(reward, action, pscore, action_dist)
    return _run([("snips", _snips_terms(d))], rounds, confidence, rng)["snips"]


def dr(
    *,
    reward: Any,
    action: Any,
    pscore: Any,
    action_dist: Any,
    rounds: int,
    confidence: float,
    rng: np.random.Generator,
    estimated_rewards: Any | None = None,
) -> Estimate:
    """Doubly robust; ``estimated_rewards`` default: :func:`mean_reward_model` on the log."""
    d = _check(reward, action, pscore, action_dist)
    return _run([("dr", _dr_terms(d, estimated_rewards))], rounds, confidence, rng)["dr"]


def estimate_all(
    *,
    reward: Any,
    action: Any,
    pscore: Any,
    action_dist: Any,
    rounds: int,
    confidence: float,
    rng: np.random.Generator,
    estimated_rewards: Any | None = None,
) -> dict[str, Estimate]:
    """IPS, SNIPS and DR (keys ``ips``, ``snips``, ``dr``) on the same bootstrap resamples.

    With a 1-d ``action_dist`` (only the logged action's probability) DR is left out.
    """
    d = _check(reward, action, pscore, action_dist)
    named: list[tuple[str, Terms]] = [("ips", _ips_terms(d)), ("snips", _snips_terms(d))]
    if d.dist is not None:
        named.append(("dr", _dr_terms(d, estimated_rewards)))
    return _run(named, rounds, confidence, rng)


def on_policy(*, reward: Any, rounds: int, confidence: float, rng: np.random.Generator) -> Estimate:
    """The logging policy's own value: the mean logged reward (name ``logged``)."""
    r = _vector("reward", reward).astype(float)
    if not np.all(np.isfinite(r)):
        raise ValueError("reward must be finite")
    return _run([("logged", (r, None))], rounds, confidence, rng)["logged"]


def gate(candidate: Estimate, baseline_value: float, *, tolerance: float) -> tuple[bool, str]:
    """The off-policy gate: may the candidate act? ``(allowed, reason)``.

    Allowed when the interval's lower bound is not below ``baseline * (1 - tolerance)``
    (for a negative baseline, ``baseline - tolerance * |baseline|``: the bar is always at or
    below the baseline). A NaN bound is refused.
    """
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance must lie in [0, 1), got {tolerance!r}")
    if not math.isfinite(baseline_value):
        raise ValueError(f"baseline_value must be finite, got {baseline_value!r}")
    bar = baseline_value - tolerance * abs(baseline_value)
    low = candidate.low
    where = (
        f"{candidate.name} lower bound {low:.4g} ({candidate.confidence:.0%} interval) vs "
        f"bar {bar:.4g} (baseline {baseline_value:.4g}, tolerance {tolerance:.0%})"
    )
    if math.isnan(low):
        return False, f"refused: {candidate.name} has no interval"
    if low >= bar:
        return True, f"allowed: {where}"
    return False, f"refused: {where}"
