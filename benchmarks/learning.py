"""Revenue of the platform's budget-allocation policy against an oracle and baselines (simulator).

Each seed builds the same market for every policy: a fresh :class:`MarketSimulator` with that
seed, one campaign, ``--creatives`` ad sets of one ad each (created in the same order, so the
ads get the same ids and the same hidden rates), equal starting budgets, creative features
drawn from the seed. Every simulated hour each policy reads the insights, decides, and its
changes go through the executor's safety policy (``configs/safety.yaml``, dry run off, changes
applied at decision time) before the market runs for an hour. Policies:

- ``platform``: :func:`core.learning.policy.plan_allocation` on decayed evidence
  (``configs/allocation.yaml``).
- ``oracle``: knows every ad's true rates (``sim.oracle``) and its current fatigue (from its
  public cumulative impressions and the simulator's fatigue law); each hour the budget split
  that maximises expected revenue under the concave delivery curve (water-filling), moved
  towards by the same stepper and the same safety caps as the platform. Myopic: it does not
  plan for future fatigue, so it is a strong reference, not the optimum.
- ``oracle_unconstrained``: the same split, set directly every hour from hour 0, no caps.
- ``mabwiser``: MABWiser Thompson sampling on conversions per impression (every impression
  of the hour a 0/1 reward), arm-choice frequencies of ``--predictions`` predictions →
  shares (same min/max share) → budgets, same stepper and caps.
- ``rule``: ROAS over the last 24 h > 3 → +20% budget, < 1 → pause (never the last active ad),
  hourly, the group's budget renormalised; same stepper and caps.
- ``uniform``: the starting equal split, never changed.

Headline ``ratio``: median over seeds of platform revenue / oracle revenue.
Writes ``benchmarks/results/learning.json`` and ``docs/img/learning.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import write_result  # noqa: E402
from core.domain.safety import (  # noqa: E402
    AppliedChange,
    BudgetState,
    ProposedChange,
    SafetyConfig,
    SafetyPolicy,
)
from core.domain.thompson import allocate_shares  # noqa: E402
from core.learning.policy import (  # noqa: E402
    AllocationConfig,
    ArmEvidence,
    MetricSnapshot,
    PlannedChange,
    decayed_evidence,
    plan_allocation,
    split_minor,
    step_budgets,
)
from core.platforms.base import AdSpec, BudgetChange, StatusChange  # noqa: E402
from core.platforms.config import PlatformsConfig, SimulatorConfig  # noqa: E402
from core.platforms.simulator import MarketSimulator  # noqa: E402
from core.video.ops.creative_features import FEATURE_NAMES  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PLOT = ROOT / "docs" / "img" / "learning.png"
TENANT, ACCOUNT = "bench", "act_bench"
START_BUDGET_MINOR = 10_000  # 100.00 a day per creative
RULE_HIGH, RULE_LOW, RULE_STEP = 3.0, 1.0, 0.20
RULE_WINDOW_H, RULE_MIN_SPEND = 24, 20.0
POLICIES = ("platform", "oracle", "oracle_unconstrained", "mabwiser", "rule", "uniform")


# --- the market and the executor ------------------------------------------------------
class World:
    """One policy's market for one seed, the safety-checked executor, and the insights."""

    def __init__(
        self,
        sim_cfg: SimulatorConfig,
        seed: int,
        features: np.ndarray,
        safety: SafetyPolicy | None,
    ) -> None:
        self.sim = MarketSimulator(sim_cfg, seed=seed)
        self.safety = safety
        self.campaign = self.sim.create_campaign("learning-bench")
        self.ads: list[str] = []
        self.adsets: list[str] = []
        for i, row in enumerate(features):
            adset = self.sim.create_adset(self.campaign, START_BUDGET_MINOR, name=f"set-{i}")
            spec = AdSpec(
                adset_id=adset,
                video_path=f"creative-{i}.mp4",
                name=f"creative-{i}",
                idempotency_key=f"bench-{seed}-{i}",
                status="ACTIVE",
                features=dict(zip(FEATURE_NAMES, map(float, row), strict=True)),
            )
            self.ads.append(self.sim.create_ad(spec).ad_id)
            self.adsets.append(adset)
        self.total = START_BUDGET_MINOR * len(self.ads)
        self.launched = self.sim.now
        self.budget = {a: START_BUDGET_MINOR for a in self.adsets}
        self.status = dict.fromkeys(self.ads, "ACTIVE")
        self.days: dict[str, dict[date, list[float]]] = {a: {} for a in self.ads}
        self.cum = {a: np.zeros(5) for a in self.ads}  # impressions, clicks, conv, spend, revenue
        self.snapshots: dict[str, list[MetricSnapshot]] = {a: [] for a in self.ads}
        self.hourly_revenue: list[float] = []
        self.history: list[AppliedChange] = []
        self.applied = self.clamped = self.rejected = 0

    # insights -> cumulative snapshots
    def observe(self) -> None:
        now = self.sim.now
        since = (now - timedelta(hours=1)).date()
        before = sum(float(c[4]) for c in self.cum.values())
        for row in self.sim.insights(self.ads, since, now.date()):
            self.days[row.ad_id][row.day] = [
                row.impressions,
                row.clicks,
                row.purchases,
                row.spend,
                row.purchase_value,
            ]
        for a in self.ads:
            self.cum[a] = np.sum(list(self.days[a].values()) or [np.zeros(5)], axis=0)
            self.snapshots[a].append(MetricSnapshot(now, *map(float, self.cum[a])))
        self.hourly_revenue.append(sum(float(c[4]) for c in self.cum.values()) - before)

    def cum_at(self, ad_id: str, hours_ago: int) -> np.ndarray:
        snaps = self.snapshots[ad_id]
        if len(snaps) <= hours_ago:
            return np.zeros(5)
        s = snaps[-1 - hours_ago]
        return np.array([s.impressions, s.clicks, s.conversions, s.spend, s.revenue])

    def active(self) -> list[int]:
        return [i for i, a in enumerate(self.ads) if self.status[a] == "ACTIVE"]

    # the executor: safety policy, then the platform
    def apply(self, changes: list[PlannedChange]) -> None:
        now = self.sim.now
        if self.safety is not None:
            c = self.safety.config
            cut = now - timedelta(hours=max(c.velocity_window_h, c.action_window_h))
            self.history = [h for h in self.history if h.applied_at > cut]
        for ch in changes:
            budget = ch.kind == "budget"
            obj = ch.ad_set_id if budget else ch.ad_id
            old = self.budget[ch.ad_set_id]
            value: int | str = ch.new_value
            if self.safety is not None:
                proposed = ProposedChange(
                    TENANT,
                    ACCOUNT,
                    self.campaign,
                    obj,
                    ch.kind,
                    now,
                    new_budget_minor=int(ch.new_value) if budget else None,
                    new_status=None if budget else str(ch.new_value),
                )
                state = BudgetState(old, sum(self.budget.values())) if budget else None
                d = self.safety.evaluate(proposed, history=self.history, budget=state)
                if not d.allowed:
                    self.rejected += 1
                    continue
                if budget:
                    self.clamped += d.budget_minor != ch.new_value
                    value = int(d.budget_minor)
            if budget:
                if value == old:
                    continue
                self.sim.set_budget(BudgetChange(obj, int(value), f"k{self.applied}"))
                self.budget[obj] = int(value)
            else:
                self.sim.set_status(StatusChange(obj, str(value), f"k{self.applied}"))
                self.status[obj] = str(value)
            self.applied += 1
            self.history.append(
                AppliedChange(
                    TENANT,
                    ACCOUNT,
                    self.campaign,
                    obj,
                    ch.kind,
                    now,
                    old_budget_minor=old if budget else None,
                    new_budget_minor=int(value) if budget else None,
                )
            )


def budget_changes(world: World, idx: list[int], new: np.ndarray, why: str) -> list[PlannedChange]:
    return [
        PlannedChange("budget", world.ads[i], world.adsets[i], int(b), why, 1.0)
        for i, b in zip(idx, new, strict=True)
        if int(b) != world.budget[world.adsets[i]]
    ]


def step_to(
    world: World, idx: list[int], targets: np.ndarray, cfg: AllocationConfig, why: str, n=None
) -> list[PlannedChange]:
    current = [world.budget[world.adsets[i]] for i in idx]
    new = step_budgets(current, targets, total_minor=world.total, config=cfg, max_changes=n)
    return budget_changes(world, idx, new, why)


# --- policies ---------------------------------------------------------------------------
Policy = Callable[[World], list[PlannedChange]]


def platform_policy(cfg: AllocationConfig, seed: int) -> Policy:
    rng = np.random.default_rng([seed, 99])

    def decide(w: World) -> list[PlannedChange]:
        now = w.sim.now
        hours = (now - w.launched).total_seconds() / 3600
        arms = [
            ArmEvidence(
                ad,
                w.adsets[i],
                w.status[ad],
                w.budget[w.adsets[i]],
                *decayed_evidence(w.snapshots[ad], now=now, half_life_h=cfg.half_life_h),
                hours_live=hours,
            )
            for i, ad in enumerate(w.ads)
        ]
        return plan_allocation(arms, config=cfg, rng=rng).changes  # its own default total

    return decide


def water_fill(rpi: np.ndarray, total: int, scale_minor: float, floor: int) -> np.ndarray:
    """Budgets (minor units, sum ``total``) maximising ``sum rpi_i (1 - exp(-B_i / scale))``
    with ``B_i >= floor``: ``B_i = max(floor, scale (ln rpi_i - L))`` for the right ``L``."""
    logs = np.log(rpi)
    lo, hi = logs.min() - total / scale_minor - 1, logs.max()
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        spent = np.maximum(floor, scale_minor * (logs - mid)).sum()
        lo, hi = (mid, hi) if spent > total else (lo, mid)
    b = np.maximum(floor, scale_minor * (logs - hi))
    return split_minor(total, b / b.sum())


def oracle_policy(cfg: AllocationConfig, sim_cfg: SimulatorConfig, *, capped: bool) -> Policy:
    scale = sim_cfg.cpm * sim_cfg.saturation_impressions / 1000 * sim_cfg.minor_per_major

    def decide(w: World) -> list[PlannedChange]:
        idx = w.active()
        rpi = []
        for i in idx:
            t = w.sim.oracle(w.ads[i])
            fresh = math.exp(-w.cum[w.ads[i]][0] / sim_cfg.fatigue_impressions)
            fat = sim_cfg.fatigue_floor + (1 - sim_cfg.fatigue_floor) * fresh
            rpi.append(t.revenue_per_impression * fat)
        targets = water_fill(np.array(rpi), w.total, scale, cfg.min_budget_minor)
        if not capped:
            return budget_changes(w, idx, targets, "oracle (no caps)")
        return step_to(w, idx, targets, cfg, "oracle")

    return decide


def mabwiser_policy(cfg: AllocationConfig, seed: int, predictions: int) -> Policy:
    from mabwiser.mab import MAB, LearningPolicy

    state: dict[str, Any] = {"mab": None}

    def decide(w: World) -> list[PlannedChange]:
        decisions, rewards = [], []
        for ad in w.ads:
            d = w.cum_at(ad, 0) - w.cum_at(ad, 1)
            n_imp, n_conv = int(round(d[0])), int(round(min(d[2], d[0])))
            decisions.append(np.full(n_imp, ad, dtype=object))
            rewards.append(np.r_[np.ones(n_conv), np.zeros(n_imp - n_conv)])
        dec, rew = np.concatenate(decisions), np.concatenate(rewards)
        if state["mab"] is None:
            if dec.size == 0:
                return []
            state["mab"] = MAB(
                arms=list(w.ads), learning_policy=LearningPolicy.ThompsonSampling(), seed=seed
            )
            state["mab"].fit(decisions=dec, rewards=rew)
        elif dec.size:
            state["mab"].partial_fit(decisions=dec, rewards=rew)
        idx = w.active()
        picks = state["mab"].predict(np.zeros((predictions, 1)))
        pos = {ad: j for j, ad in enumerate(w.ads[i] for i in idx)}
        freq = np.bincount([pos[p] for p in picks if p in pos], minlength=len(idx))
        shares = allocate_shares(freq / max(freq.sum(), 1), cfg.min_share, cfg.max_share)
        return step_to(w, idx, split_minor(w.total, shares), cfg, "mabwiser")

    return decide


def rule_policy(cfg: AllocationConfig) -> Policy:
    def decide(w: World) -> list[PlannedChange]:
        out: list[PlannedChange] = []
        if len(w.snapshots[w.ads[0]]) <= RULE_WINDOW_H:
            return out
        idx = w.active()
        want = {}
        for i in idx:
            ad = w.ads[i]
            d = w.cum_at(ad, 0) - w.cum_at(ad, RULE_WINDOW_H)
            roas = d[4] / d[3] if d[3] >= RULE_MIN_SPEND else None
            cur = w.budget[w.adsets[i]]
            if roas is not None and roas < RULE_LOW and len(idx) - len(out) > 1:
                out.append(PlannedChange("status", ad, w.adsets[i], "PAUSED", "ROAS < 1", 1.0))
                continue
            want[i] = cur * (1 + RULE_STEP) if roas is not None and roas > RULE_HIGH else cur
        keep = list(want)
        raw = np.array([want[i] for i in keep], dtype=float)
        targets = split_minor(w.total, raw / raw.sum())
        return out + step_to(w, keep, targets, cfg, "rule", cfg.max_changes - len(out))

    return decide


def uniform_policy(w: World) -> list[PlannedChange]:
    return []


# --- one run ------------------------------------------------------------------------------
def run(
    name: str,
    seed: int,
    args: argparse.Namespace,
    sim_cfg: SimulatorConfig,
    cfg: AllocationConfig,
    safety: SafetyPolicy,
) -> dict[str, Any]:
    features = np.random.default_rng([seed, 2024]).uniform(
        0, 1, (args.creatives, len(FEATURE_NAMES))
    )
    capped = name != "oracle_unconstrained"
    w = World(sim_cfg, seed, features, safety if capped else None)
    decide: Policy = {
        "platform": lambda: platform_policy(cfg, seed),
        "oracle": lambda: oracle_policy(cfg, sim_cfg, capped=True),
        "oracle_unconstrained": lambda: oracle_policy(cfg, sim_cfg, capped=False),
        "mabwiser": lambda: mabwiser_policy(cfg, seed, args.predictions),
        "rule": lambda: rule_policy(cfg),
        "uniform": lambda: uniform_policy,
    }[name]()
    t0 = time.perf_counter()
    for _ in range(args.days * 24):
        w.apply(decide(w))
        w.sim.advance(1)
        w.observe()
    spend = sum(float(c[3]) for c in w.cum.values())
    return {
        "revenue": sum(float(c[4]) for c in w.cum.values()),
        "spend": spend,
        "hourly_revenue": w.hourly_revenue,
        "applied": w.applied,
        "clamped": w.clamped,
        "rejected": w.rejected,
        "paused": sum(s == "PAUSED" for s in w.status.values()),
        "seconds": time.perf_counter() - t0,
        "true_rpi": [w.sim.oracle(a).revenue_per_impression for a in w.ads],
    }


def plot(per_policy: dict[str, list[float]], seed: int, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    for name, hourly in per_policy.items():
        days = np.arange(1, len(hourly) + 1) / 24
        style = "--" if name == "oracle_unconstrained" else "-"
        ax.plot(days, np.cumsum(hourly) / 1000, style, label=name, lw=1.6)
    ax.set_xlabel("simulated day")
    ax.set_ylabel("cumulative revenue (thousands, major units)")
    ax.set_title(f"Budget allocation on the market simulator (median seed {seed})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=1, help="seeds from this one")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--creatives", type=int, default=20)
    parser.add_argument("--predictions", type=int, default=1000, help="MABWiser draws per hour")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 seeds, 3 days")
    parser.add_argument("--no-write", action="store_true", help="print, write nothing")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.days = min(args.seeds, 2), min(args.days, 3)
    sim_cfg = PlatformsConfig.load().simulator
    cfg = AllocationConfig.load()
    safety = SafetyPolicy(SafetyConfig.load().model_copy(update={"dry_run": False}))
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    raw: dict[str, dict[str, dict[str, Any]]] = {p: {} for p in POLICIES}
    t0 = time.perf_counter()
    for seed in seeds:
        for name in POLICIES:
            raw[name][str(seed)] = run(name, seed, args, sim_cfg, cfg, safety)
        line = "  ".join(f"{p} {raw[p][str(seed)]['revenue']:,.0f}" for p in POLICIES)
        print(f"seed {seed}: {line}", flush=True)

    def ratio(a: str, b: str) -> list[float]:
        return [raw[a][str(s)]["revenue"] / raw[b][str(s)]["revenue"] for s in seeds]

    vs = {p: ratio("platform", p) for p in POLICIES if p != "platform"}
    med = {p: statistics.median(v) for p, v in vs.items()}
    oracle_ratios = vs["oracle"]
    median_seed = seeds[sorted(range(len(seeds)), key=lambda i: oracle_ratios[i])[len(seeds) // 2]]
    ms = str(median_seed)
    result = {
        "benchmark": "platform budget-allocation policy vs oracle and baselines, revenue",
        "ratio": med["oracle"],
        "vs_oracle_unconstrained": med["oracle_unconstrained"],
        "vs_mabwiser": med["mabwiser"],
        "vs_rule": med["rule"],
        "vs_uniform": med["uniform"],
        "oracle_capped_vs_unconstrained": statistics.median(
            ratio("oracle", "oracle_unconstrained")
        ),
        "targets": {"ratio": 0.90, "vs_mabwiser": 1.0, "vs_rule": 1.0, "vs_uniform": 1.0},
        "median_seed": median_seed,
        "median_seed_ratios": {
            p: raw["platform"][ms]["revenue"] / raw[p][ms]["revenue"]
            for p in POLICIES
            if p != "platform"
        },
        "setup": {
            "seeds": seeds,
            "days": args.days,
            "creatives": args.creatives,
            "decisions": "hourly",
            "start_budget_minor_per_ad_set": START_BUDGET_MINOR,
            "group_budget_minor": START_BUDGET_MINOR * args.creatives,
            "statistic": "median over seeds of per-seed revenue ratios (platform / other)",
            "headline": "ratio = platform revenue / oracle revenue (oracle held to the same "
            "safety caps and stepper); vs_oracle_unconstrained: oracle with no caps",
            "safety": "configs/safety.yaml (dry_run off): ±20% per change, ±20% over 6 h, "
            "15 actions per campaign per hour, min budget; applied at decision time",
            "allocation": cfg.model_dump(),
            "mabwiser_predictions_per_hour": args.predictions,
            "rule": {
                "window_h": RULE_WINDOW_H,
                "min_spend": RULE_MIN_SPEND,
                "roas_high": RULE_HIGH,
                "roas_low": RULE_LOW,
                "step": RULE_STEP,
            },
            "oracle": "myopic, fatigue-aware water-filling on true revenue per impression",
            "quick": args.quick,
            "wall_s": round(time.perf_counter() - t0, 1),
        },
        "raw": {
            p: {
                s: {k: v for k, v in r.items() if k not in ("hourly_revenue", "true_rpi")}
                for s, r in raw[p].items()
            }
            for p in POLICIES
        },
        "per_seed_ratios": {p: dict(zip(map(str, seeds), v, strict=True)) for p, v in vs.items()},
    }
    result["met"] = {
        k: (result[k] >= t) for k, t in result["targets"].items() if isinstance(t, float)
    }
    print(
        json.dumps(
            {
                k: result[k]
                for k in (
                    "ratio",
                    "vs_oracle_unconstrained",
                    "vs_mabwiser",
                    "vs_rule",
                    "vs_uniform",
                    "met",
                )
            },
            indent=1,
        )
    )
    print(f"wall {time.perf_counter() - t0:.0f} s")
    if args.no_write:
        return 0
    drawn = plot({p: raw[p][ms]["hourly_revenue"] for p in POLICIES}, median_seed, PLOT)
    result["plot"] = str(PLOT.relative_to(ROOT)) if drawn else None
    print(write_result("learning", result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
