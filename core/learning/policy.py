"""The platform's budget-allocation policy (the auto-promoter's brain, SPEC §3.4, §3.5, §4.7).

A *budget group* is an experiment: its arms are ads, one ad per ad set, and the group's daily
budget (by default the sum of the ad-set budgets of its active arms) stays constant while the
policy moves it towards the arms that bring the most **revenue**.

Why revenue per impression: every arm is its own ad set on the same concave delivery curve,
so at equal budgets the arm with the highest revenue per impression also has the highest
ROAS, and unlike ROAS it does not fall as an arm's budget grows (an ad set's cost per
impression rises with its budget, so ranking by observed ROAS would punish the arms already
scaled up). Posterior of an arm's revenue per impression: ``Beta`` on conversions per
impression (prior: the group's pooled rate with ``prior_impressions`` of weight) times a
``Gamma`` on its mean order value (shrunk towards the group's pooled order value by
``order_value_prior_orders`` pseudo-orders, spread ``order_value_cv / sqrt(orders)``).

From seeded joint draws, target shares (``share_rule``):

- ``water_fill`` (default): delivery is concave, ``I(B) = S (1 - exp(-B / b))`` per ad set, so
  putting the budget on the most probably best arm over-concentrates it. For each draw of the
  arms' revenue per impression ``r_i``, the split of the budget that equalises marginal revenue
  ``r_i I'(B_i)`` (closed form: ``B_i = max(0, b (ln r_i - L))``); shares = the mean of those
  splits over the draws (Thompson-sampled water-filling). The scale ``b`` is fitted to what
  the group's ad sets delivered (:func:`delivery_scale`: impressions per unit spend against
  daily spend, around an assumed prior); before two arms have spent, ``prob_best`` shares.
- ``prob_best``: shares proportional to each arm's probability of being best.

Then :func:`core.domain.thompson.allocate_shares` within ``[min_share, max_share]``; target
budgets = shares × group budget. An arm is paused when it is confidently unprofitable
(``P(ROAS < min_roas) >= pause_confidence``, ROAS drawn as revenue per impression × its
observed impressions per unit spend) after ``pause_min_spend`` and ``pause_min_hours``, never
leaving fewer than ``min_active`` arms active; its budget is handed to the others.

Each proposed budget moves at most ``±max_step_pct`` towards its target (within the
executor's caps, ``configs/safety.yaml``, so it is not clamped or rejected), changes under
``min_change_pct`` are skipped, at most ``max_changes`` changes (pauses first, then the
largest rises and cuts by turns), and increases and decreases are balanced so the group's
budget is conserved to the minor unit whenever the steps allow.
Values in ``configs/allocation.yaml``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
from pydantic import Field, model_validator

from core.config import ConfigModel, load_config
from core.domain.thompson import allocate_shares, decay_factor

STATUSES = ("ACTIVE", "PAUSED")


class AllocationConfig(ConfigModel):
    """All of ``configs/allocation.yaml``."""

    half_life_h: float | None = Field(gt=0)
    prior_impressions: float = Field(gt=0)
    order_value_prior_orders: float = Field(gt=0)
    order_value_cv: float = Field(gt=0)
    n_draws: int = Field(ge=100)
    min_share: float = Field(ge=0, le=1)
    max_share: float = Field(gt=0, le=1)
    min_roas: float = Field(ge=0)
    pause_confidence: float = Field(gt=0.5, le=1)
    pause_min_spend: float = Field(ge=0)
    pause_min_hours: float = Field(ge=0)
    min_active: int = Field(ge=1)
    max_step_pct: float = Field(gt=0, lt=1)
    min_change_pct: float = Field(ge=0, lt=1)
    max_changes: int = Field(ge=1)
    min_budget_minor: int = Field(ge=1)
    share_rule: Literal["prob_best", "water_fill"]
    delivery_scale_prior: float = Field(gt=0)
    delivery_scale_prior_sd: float = Field(gt=0)
    delivery_noise_sd: float = Field(gt=0)
    delivery_min_spend: float = Field(ge=0)
    minor_per_major: int = Field(ge=1)

    @model_validator(mode="after")
    def _check(self) -> AllocationConfig:
        if self.min_share > self.max_share:
            raise ValueError("need min_share <= max_share")
        if self.min_change_pct > self.max_step_pct:
            raise ValueError("need min_change_pct <= max_step_pct")
        return self

    @classmethod
    def load(cls, path: Path | None = None) -> AllocationConfig:
        return load_config("allocation.yaml", cls, path=path)


# --- evidence -------------------------------------------------------------------------
@dataclass(frozen=True)
class MetricSnapshot:
    """Cumulative (lifetime) delivery of one ad as of ``at``; money in major units."""

    at: datetime
    impressions: float
    clicks: float
    conversions: float
    spend: float
    revenue: float


class Evidence(NamedTuple):
    """Decayed evidence of one ad (money in major units)."""

    impressions: float
    clicks: float
    conversions: float
    spend: float
    revenue: float


_FIELDS = Evidence._fields


def decayed_evidence(
    snapshots: Sequence[MetricSnapshot], *, now: datetime, half_life_h: float | None
) -> Evidence:
    """Evidence of one ad as of ``now`` from its CUMULATIVE snapshots (any order).

    As :func:`core.domain.thompson.fold`: snapshots are folded by ``at``, each adds its
    increment over the previous one (the first one its totals), and evidence already held is
    scaled by ``0.5 ** (hours / half_life_h)`` as time passes, up to ``now``; no metric goes
    below zero (a platform correction can lower cumulative counts). ``half_life_h=None``: no
    decay, the last snapshot's totals.
    """
    acc = [0.0] * 5
    last = [0.0] * 5
    at: datetime | None = None
    for snap in sorted(snapshots, key=lambda s: s.at):
        f = 1.0 if at is None else decay_factor((snap.at - at).total_seconds() / 3600, half_life_h)
        cur = [float(getattr(snap, name)) for name in _FIELDS]
        acc = [max(a * f + c - p, 0.0) for a, c, p in zip(acc, cur, last, strict=True)]
        last, at = cur, snap.at
    if at is not None:
        f = decay_factor((now - at).total_seconds() / 3600, half_life_h)
        acc = [a * f for a in acc]
    return Evidence(*acc)


# --- the plan -------------------------------------------------------------------------
@dataclass(frozen=True)
class ArmEvidence:
    """One ad (arm) of a budget group; evidence already decayed, money in major units."""

    ad_id: str
    ad_set_id: str
    status: str  # "ACTIVE" | "PAUSED"
    daily_budget_minor: int  # its ad set's current daily budget (minor units)
    impressions: float
    clicks: float
    conversions: float
    spend: float
    revenue: float
    hours_live: float

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be ACTIVE or PAUSED, not {self.status!r}")
        b = self.daily_budget_minor
        if isinstance(b, bool) or not isinstance(b, int) or b <= 0:
            raise ValueError(f"daily_budget_minor must be a positive int, not {b!r}")
        for name in ("impressions", "clicks", "conversions", "spend", "revenue", "hours_live"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, not {v!r}")


@dataclass(frozen=True)
class PlannedChange:
    """A change for the executor: a budget (minor units) or a status."""

    kind: Literal["budget", "status"]
    ad_id: str
    ad_set_id: str
    new_value: int | str  # minor units (budget) or "ACTIVE"/"PAUSED"
    reason: str
    confidence: float


@dataclass(frozen=True)
class Plan:
    """The policy's answer for one budget group.

    ``shares``: target share of the group's budget per ad (0 for paused ones; they sum to 1
    over the arms left active): the propensities logged for off-policy evaluation.
    ``targets``: target daily budget per ad (minor units) that the ``changes`` step towards.
    """

    shares: dict[str, float]
    changes: list[PlannedChange]
    total_minor: int
    targets: dict[str, int] = field(default_factory=dict)
    prob_best: dict[str, float] = field(default_factory=dict)
    revenue_per_impression: dict[str, float] = field(default_factory=dict)  # posterior mean
    expected_roas: dict[str, float] = field(default_factory=dict)
    p_unprofitable: dict[str, float] = field(default_factory=dict)  # P(ROAS < min_roas)
    delivery_scale: float | None = None  # fitted curve scale (major units a day); None: not used


def split_minor(total_minor: int, shares: np.ndarray) -> np.ndarray:
    """Whole minor units per share that add up to ``total_minor`` (largest remainders)."""
    raw = np.asarray(shares, dtype=float) * total_minor
    out = np.floor(raw).astype(np.int64)
    left = int(total_minor - out.sum())
    if left > 0:
        out[np.argsort(out - raw, kind="stable")[:left]] += 1
    return out


def _scale_to(amounts: np.ndarray, total: int) -> np.ndarray:
    """Non-negative ints proportional to ``amounts`` (ints >= 0) summing to ``total``
    (``0 <= total <= amounts.sum()``), none above its amount."""
    s = int(amounts.sum())
    if total >= s:
        return amounts.copy()
    if total <= 0:
        return np.zeros_like(amounts)
    return np.minimum(split_minor(total, amounts / s), amounts)


def step_budgets(
    current: Sequence[int],
    targets: Sequence[int],
    *,
    total_minor: int,
    config: AllocationConfig,
    max_changes: int | None = None,
) -> np.ndarray:
    """New budgets (minor units) one step from ``current`` towards ``targets``.

    Each moves at most ``±max_step_pct`` of its current value and not below
    ``min_budget_minor``; moves under ``min_change_pct`` are dropped; at most ``max_changes``
    (default ``config.max_changes``) budgets change: the largest rise, the largest cut, the
    next rise... (so a cut can pay for each rise). Increases and
    decreases are then scaled so the new budgets add up to ``total_minor`` when the steps
    allow, and never above it unless the current budgets already are.
    """
    cur = np.asarray(current, dtype=np.int64)
    tgt = np.asarray(targets, dtype=np.int64)
    if cur.shape != tgt.shape or cur.ndim != 1:
        raise ValueError("current and targets must be 1-d and of equal length")
    if cur.size == 0:
        return cur.copy()
    s = config.max_step_pct
    up = np.floor(cur * (1 + s)).astype(np.int64)
    down = np.maximum(np.ceil(cur * (1 - s)).astype(np.int64), config.min_budget_minor)
    down = np.minimum(down, cur)  # an ad set already under the minimum does not go lower
    delta = np.clip(tgt, down, up) - cur
    delta[np.abs(delta) < np.maximum(config.min_change_pct * cur, 1)] = 0
    limit = config.max_changes if max_changes is None else max_changes
    moving = np.flatnonzero(delta)
    if moving.size > limit:
        # The largest rises and the largest cuts by turns, so one always pays for the other.
        ups = [i for i in np.argsort(-delta, kind="stable") if delta[i] > 0]
        downs = [i for i in np.argsort(delta, kind="stable") if delta[i] < 0]
        turns = [i for pair in zip(ups, downs, strict=False) for i in pair]
        turns += ups[len(downs) :] + downs[len(ups) :]
        kept = np.zeros_like(delta)
        keep = turns[: max(limit, 0)]
        kept[keep] = delta[keep]
        delta = kept
    pos = np.where(delta > 0, delta, 0)
    neg = np.where(delta < 0, -delta, 0)
    gap = int(total_minor - cur.sum())  # > 0: money to hand out
    p, n = int(pos.sum()), int(neg.sum())
    if p - n > gap:  # too much up: fewer increases (or, overspent already, all cuts)
        pos = _scale_to(pos, max(n + gap, 0))
    elif p - n < gap:  # too much down: smaller cuts
        neg = _scale_to(neg, max(p - gap, 0))
    return cur + pos - neg


def water_fill_shares(values: np.ndarray, budget: float) -> np.ndarray:
    """Mean over draws (rows) of the budget split maximising ``sum_i v_i (1 - exp(-B_i))``
    with ``sum_i B_i = budget`` (budgets in units of the delivery curve's scale): equal
    marginal revenue ``v_i exp(-B_i)``, so ``B_i = max(0, ln v_i - L)``; shares of ``budget``.
    """
    v = np.maximum(np.asarray(values, dtype=float), 1e-300)
    logs = -np.sort(-np.log(v), axis=1)  # descending per draw
    m = np.arange(1, logs.shape[1] + 1)
    level = (np.cumsum(logs, axis=1) - budget) / m  # L if the top m arms are funded
    n = (logs > level).sum(axis=1)  # arms funded: the largest m with ln v_(m) > L_m
    lam = level[np.arange(logs.shape[0]), n - 1]
    b = np.maximum(np.log(v) - lam[:, None], 0.0)
    return (b / budget).mean(axis=0)


def delivery_scale(arms: Sequence[ArmEvidence], *, config: AllocationConfig) -> float | None:
    """Posterior-mean budget scale ``b`` (major units a day) of the delivery curve
    ``I(B) = S (1 - exp(-B / b))`` shared by the group's ad sets, from what they delivered.

    Impressions per unit spend are ``I(B) / B = c (1 - exp(-x)) / x``, ``x = B / b``: a fit of
    ``log(impressions / spend)`` against each arm's effective daily spend (its decayed spend
    over its decayed days live), ``c`` profiled out, noise ``1 / impressions`` plus
    ``delivery_noise_sd**2``, log-normal prior (``delivery_scale_prior``,
    ``delivery_scale_prior_sd``) on a grid. ``None`` while fewer than two arms have spent
    ``delivery_min_spend`` (then shares fall back to ``prob_best``).
    """
    c = config
    rows = [a for a in arms if a.spend >= max(c.delivery_min_spend, 1e-9) and a.impressions > 0]
    if len(rows) < 2:
        return None
    hl = c.half_life_h
    days = np.array(
        [
            a.hours_live / 24
            if hl is None
            else hl / math.log(2) * (1 - 0.5 ** (a.hours_live / hl)) / 24
            for a in rows
        ]
    )
    spend = np.array([a.spend for a in rows])
    rate = spend / np.maximum(days, 1e-9)
    y = np.log(np.array([a.impressions for a in rows]) / spend)
    w = 1 / (1 / np.array([a.impressions for a in rows]) + c.delivery_noise_sd**2)
    mu, sd = math.log(c.delivery_scale_prior), c.delivery_scale_prior_sd
    grid = mu + sd * np.linspace(-4, 4, 161)
    x = rate[None, :] / np.exp(grid)[:, None]
    h = np.log(-np.expm1(-x) / x)
    r = y[None, :] - h
    r = r - (r @ w / w.sum())[:, None]  # best log c for each scale
    logp = -0.5 * (r**2 @ w) - 0.5 * ((grid - mu) / sd) ** 2
    p = np.exp(logp - logp.max())
    return float(np.exp(p @ grid / p.sum()))


def _confidence(x: float) -> float:
    return float(min(max(x, 0.0), 1.0))


def plan_allocation(
    arms: Sequence[ArmEvidence],
    *,
    config: AllocationConfig,
    rng: np.random.Generator,
    total_minor: int | None = None,
) -> Plan:
    """The next step of one budget group (see the module doc).

    ``total_minor``: the group's daily budget; default the sum of the budgets of its arms
    that are active now. Same arms, config and ``rng`` state: same plan.
    """
    if not arms:
        raise ValueError("a budget group needs at least one arm")
    if len({a.ad_id for a in arms}) != len(arms) or len({a.ad_set_id for a in arms}) != len(arms):
        raise ValueError("arms need distinct ad ids and distinct ad sets (one ad per ad set)")
    active = [a for a in arms if a.status == "ACTIVE"]
    total = sum(a.daily_budget_minor for a in active) if total_minor is None else total_minor
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise ValueError(f"total_minor must be an int >= 0, not {total!r}")
    if not active:
        return Plan(shares={a.ad_id: 0.0 for a in arms}, changes=[], total_minor=total)

    c = config
    imp = np.array([a.impressions for a in active])
    conv = np.minimum(np.array([a.conversions for a in active]), imp)
    spend = np.array([a.spend for a in active])
    rev = np.array([a.revenue for a in active])
    k = len(active)

    # Posterior of revenue per impression: conversion rate x mean order value.
    rate0 = (conv.sum() + 0.5) / (imp.sum() + 1.0)
    alpha = c.prior_impressions * rate0 + conv
    beta = c.prior_impressions * (1 - rate0) + (imp - conv)
    aov0 = rev.sum() / conv.sum() if conv.sum() > 0 else 1.0
    orders = conv + c.order_value_prior_orders
    aov_mean = (rev + c.order_value_prior_orders * aov0) / orders
    shape = orders / c.order_value_cv**2
    rate_draws = rng.beta(alpha, beta, size=(c.n_draws, k))
    aov_draws = rng.gamma(shape, aov_mean / shape, size=(c.n_draws, k))
    rpi = rate_draws * aov_draws
    prob_best = np.bincount(rpi.argmax(axis=1), minlength=k) / c.n_draws
    # ROAS draws: revenue per impression x the arm's own impressions per unit spend.
    imp_per_spend = np.where(spend > 0, imp / np.maximum(spend, 1e-12), np.inf)
    with np.errstate(invalid="ignore"):
        roas = rpi * imp_per_spend
    p_loss = np.where(spend > 0, (roas < c.min_roas).mean(axis=0), 0.0)

    scale = delivery_scale(active, config=c) if c.share_rule == "water_fill" else None

    # Confident losers, worst first, keeping min_active: paused when the others can take
    # their budget within this step, else drained to the minimum budget first.
    eligible = [
        i
        for i, a in enumerate(active)
        if a.spend >= c.pause_min_spend
        and a.hours_live >= c.pause_min_hours
        and p_loss[i] >= c.pause_confidence
    ]
    losers = sorted(eligible, key=lambda j: (-p_loss[j], prob_best[j]))
    losers = losers[: max(min(k - c.min_active, c.max_changes), 0)]
    for m in range(len(losers), -1, -1):
        paused, draining = set(losers[:m]), set(losers[m:])
        keep = [i for i in range(k) if i not in paused]
        current = [active[i].daily_budget_minor for i in keep]
        floor = {i: min(active[i].daily_budget_minor, c.min_budget_minor) for i in draining}
        free = [i for i in keep if i not in draining]
        n = len(free)
        lo, hi = min(c.min_share, 1.0 / n), max(c.max_share, 1.0 / n)
        if c.share_rule == "water_fill" and scale is not None:
            budget_free = max(total - sum(floor.values()), 1) / c.minor_per_major
            weights = water_fill_shares(rpi[:, free], budget_free / scale)
        else:
            weights = prob_best[free]
        rest = allocate_shares(weights, lo, hi)
        rest_minor = split_minor(max(total - sum(floor.values()), 0), rest)
        target = dict(zip(free, rest_minor.tolist(), strict=True)) | floor
        targets = np.array([target[i] for i in keep], dtype=np.int64)
        new = step_budgets(
            current, targets, total_minor=total, config=c, max_changes=c.max_changes - m
        )
        if m == 0 or int(new.sum()) == total:
            break
    changes = [
        PlannedChange(
            "status",
            active[i].ad_id,
            active[i].ad_set_id,
            "PAUSED",
            f"P(ROAS < {c.min_roas:g}) = {p_loss[i]:.2f} after spend {active[i].spend:.2f}",
            _confidence(p_loss[i]),
        )
        for i in losers[:m]
    ]
    shares = targets / max(int(targets.sum()), 1)

    # Confidence of a move: P(the arm beats the budget-weighted mean of the group).
    weights = np.array(current, dtype=float)
    mean_draw = rpi[:, keep] @ (weights / weights.sum())
    for j, i in enumerate(keep):
        if new[j] == current[j]:
            continue
        a = active[i]
        p_above = float((rpi[:, i] > mean_draw).mean())
        way = "up" if new[j] > current[j] else "down"
        why = "drain before pausing: " if i in draining else ""
        changes.append(
            PlannedChange(
                "budget",
                a.ad_id,
                a.ad_set_id,
                int(new[j]),
                f"{why}{way} towards {int(targets[j])} (share {shares[j]:.3f}, "
                f"P(best) {prob_best[i]:.2f})",
                _confidence(p_above if way == "up" else 1 - p_above),
            )
        )

    share_of = {a.ad_id: 0.0 for a in arms}
    target_of = {a.ad_id: 0 for a in arms if a.status == "ACTIVE"}
    for j, i in enumerate(keep):
        share_of[active[i].ad_id] = float(shares[j])
        target_of[active[i].ad_id] = int(targets[j])
    means = (alpha / (alpha + beta)) * aov_mean
    return Plan(
        shares=share_of,
        changes=changes,
        total_minor=total,
        targets=target_of,
        prob_best={a.ad_id: float(prob_best[i]) for i, a in enumerate(active)},
        revenue_per_impression={a.ad_id: float(means[i]) for i, a in enumerate(active)},
        expected_roas={
            a.ad_id: float(means[i] * imp_per_spend[i])
            for i, a in enumerate(active)
            if spend[i] > 0
        },
        p_unprofitable={a.ad_id: float(p_loss[i]) for i, a in enumerate(active)},
        delivery_scale=scale,
    )
