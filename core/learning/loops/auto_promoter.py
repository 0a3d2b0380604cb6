"""Loop 7, the auto-promoter: per active experiment whose arms are ads in their own ad sets,
split the experiment's budget by the allocation policy (Thompson sampling on revenue,
``core/learning/policy.py``), scale winners and pause confident losers by queuing changes for
the safe executor (never around it: every change still passes the safety policy there).

Each allocation is logged with its shares as propensities (``allocation_decisions``), and the
rewards of earlier decisions are filled in (the arm's ROAS over the following interval): the
off-policy gate reads them before a policy other than the one that logged them may act.
"""

from __future__ import annotations

import bisect
import zlib
from collections import Counter
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import select

from core.db import changes as changes_db
from core.db import experiments as exp_repo
from core.db import learning as repo
from core.db.models import Ad
from core.domain.safety import load_policy
from core.execution.service import ChangeError, NewChange, request_change
from core.learning import policy as alloc
from core.learning.context import CycleContext, Skipped
from core.platforms.base import ObjectState, PlatformError

SIM_ACCOUNT = "simulator"


def _snapshots(rows: list[Any]) -> list[alloc.MetricSnapshot]:
    return [
        alloc.MetricSnapshot(
            at=r.observed_at,
            impressions=r.impressions,
            clicks=r.clicks,
            conversions=r.conversions,
            spend=r.spend,
            revenue=r.revenue,
        )
        for r in rows
    ]


def fill_rewards(ctx: CycleContext, history: dict[str, list[Any]], experiment_id: str) -> int:
    """Label logged decisions whose following interval has passed: reward = the arm's ROAS
    from the decision to the first snapshot at least an interval later (no spend there:
    left unlabelled)."""
    interval = timedelta(seconds=ctx.config.schedule.interval_s)
    now, filled = ctx.now(), 0
    with ctx.db.session() as s:
        for d in repo.decisions(
            s, tenant_id=ctx.tenant_id, experiment_id=experiment_id, labelled=False
        ):
            end = d.decided_at + interval
            if end > now:
                continue
            rows = history.get(d.ad_id, [])
            times = [r.observed_at for r in rows]
            # from the last snapshot at the decision to the first one a full interval later
            i, j = bisect.bisect_right(times, d.decided_at) - 1, bisect.bisect_left(times, end)
            if j >= len(rows) or j <= i:
                continue
            a = rows[i] if i >= 0 else None
            spend = rows[j].spend - (a.spend if a else 0.0)
            if spend > 0:
                d.reward = (rows[j].revenue - (a.revenue if a else 0.0)) / spend
                filled += 1
    return filled


def off_policy_gate(ctx: CycleContext, experiment_id: str, shares: dict[str, float]) -> str | None:
    """None when the plan may act; else why it is held.

    Only a policy other than the one that logged most decisions is gated (the logging policy
    is on-policy). The logged allocations become a bandit log (``core/learning/decision_log``:
    budget units drawn from each, with their shares as propensities); the candidate's value
    is estimated with ``ope.yaml: gate.estimator`` and must not fall below the logged
    policy's by more than ``gate.tolerance``.
    """
    cfg = ctx.config.auto_promoter
    if not cfg.gate:
        return None
    with ctx.db.session() as s:
        logged = repo.decisions(
            s, tenant_id=ctx.tenant_id, experiment_id=experiment_id, labelled=True
        )
    if not logged:
        return None
    logging_policy = Counter(d.policy for d in logged).most_common(1)[0][0]
    if logging_policy == cfg.policy or len(logged) < cfg.gate_min_decisions:
        return None
    from core.domain import ope
    from core.learning.decision_log import bandit_log
    from core.learning.ope_data import OpeConfig

    ope_cfg = OpeConfig.load()
    rng = np.random.default_rng(ope_cfg.bootstrap.seed)
    log = bandit_log(logged, rng=rng)
    if log.empty:
        return None
    arms = sorted(set(log["item_id"]) | set(shares))
    index = {a: i for i, a in enumerate(arms)}
    target = np.array([shares.get(a, 0.0) for a in arms], dtype=float)
    target = target / target.sum() if target.sum() > 0 else np.full(len(arms), 1 / len(arms))
    est = ope.estimate_all(
        reward=log["reward"].to_numpy(),
        action=log["item_id"].map(index).to_numpy(),
        pscore=log["propensity"].to_numpy(),
        action_dist=np.tile(target, (len(log), 1)),
        rounds=ope_cfg.bootstrap.rounds,
        confidence=ope_cfg.bootstrap.confidence,
        rng=rng,
    )[ope_cfg.gate.estimator]
    baseline = float(log["reward"].mean())
    allowed, why = ope.gate(est, baseline, tolerance=ope_cfg.gate.tolerance)
    return None if allowed else why


def run(ctx: CycleContext) -> dict[str, Any]:
    cfg, tenant, now = ctx.config.auto_promoter, ctx.tenant_id, ctx.now()
    if not cfg.enabled:
        raise Skipped("auto_promoter.enabled is false")
    if ctx.platform_for is None:
        raise Skipped("no ad platform in this process")
    alloc_cfg = alloc.AllocationConfig.load()
    safety = load_policy()
    rng = np.random.default_rng(zlib.crc32(ctx.cycle_id.encode()))
    counts = Counter(ads_promoted=0, ads_killed=0, changes_queued=0, experiments_acted=0, held=0)
    notes: list[str] = []
    with ctx.db.session() as s:
        exps = exp_repo.active_experiments(s, tenant)
    for exp in exps:
        with ctx.db.session() as s:
            arm_ids = [
                a.ad_id
                for a in exp_repo.list_arms(s, tenant_id=tenant, experiment_id=exp.experiment_id)
            ]
            ads = list(s.scalars(select(Ad).where(Ad.tenant_id == tenant, Ad.ad_id.in_(arm_ids))))
            sets = [a.ad_set_id for a in ads]
            if len(ads) < 2 or None in sets or len(set(sets)) != len(sets):
                notes.append(f"{exp.experiment_id}: arms are not ads in ad sets of their own")
                continue
            campaign = ads[0].campaign_id or ""
            account = changes_db.campaign_accounts(
                s, tenant_id=tenant, campaign_ids=[campaign]
            ).get(campaign, SIM_ACCOUNT)
            history = exp_repo.metric_history(s, tenant_id=tenant, ad_ids=arm_ids)
        platform = ctx.platform_for(tenant, account)
        ids = [a.ad_id for a in ads]
        states = platform.read_states(
            [*sets, *ids], budgets=[True] * len(sets) + [False] * len(ids)
        )
        arms = []
        for ad, state, on_platform in zip(
            ads, states[: len(sets)], states[len(sets) :], strict=True
        ):
            for got, what in ((state, "ad set"), (on_platform, "ad")):
                if isinstance(got, PlatformError) or not isinstance(got, ObjectState):
                    raise RuntimeError(f"cannot read {what} of {ad.ad_id}: {got}")
            ev = alloc.decayed_evidence(
                _snapshots(history[ad.ad_id]), now=now, half_life_h=alloc_cfg.half_life_h
            )
            arms.append(
                alloc.ArmEvidence(
                    ad_id=ad.ad_id,
                    ad_set_id=ad.ad_set_id,
                    status="ACTIVE" if on_platform.status == "ACTIVE" else "PAUSED",
                    daily_budget_minor=int(state.daily_budget_minor or alloc_cfg.min_budget_minor),
                    impressions=ev.impressions,
                    clicks=ev.clicks,
                    conversions=ev.conversions,
                    spend=ev.spend,
                    revenue=ev.revenue,
                    hours_live=max((now - ad.launched_at).total_seconds() / 3600.0, 0.0),
                )
            )
        plan = alloc.plan_allocation(arms, config=alloc_cfg, rng=rng)
        fill_rewards(ctx, history, exp.experiment_id)
        held = off_policy_gate(ctx, exp.experiment_id, plan.shares)
        with ctx.db.session() as s:
            repo.log_decisions(
                s,
                tenant_id=tenant,
                cycle_id=ctx.cycle_id,
                experiment_id=exp.experiment_id,
                policy=cfg.policy,
                shares=plan.shares,
                now=now,
            )
            if held is not None:
                counts["held"] += 1
                notes.append(f"{exp.experiment_id}: held by the off-policy gate: {held}")
                continue
            for c in plan.changes:
                change = NewChange(
                    kind=c.kind,
                    idempotency_key=f"cycle:{ctx.cycle_id}:{c.kind}:{c.ad_set_id}",
                    account_id=account,
                    campaign_id=campaign,
                    new_value=c.new_value,
                    ad_set_id=c.ad_set_id,
                    ad_id=c.ad_id if c.kind == "status" else None,
                    reason=f"learning cycle: {c.reason}",
                    confidence=round(float(c.confidence), 4),
                )
                try:
                    _, created = request_change(
                        s,
                        change,
                        tenant_id=tenant,
                        requested_by="learning-cycle",
                        policy=safety,
                        now=now,
                    )
                except ChangeError as exc:
                    notes.append(f"{c.ad_id}: {exc}")
                    continue
                if not created:
                    continue
                counts["changes_queued"] += 1
                if c.kind == "status" and c.new_value == "PAUSED":
                    counts["ads_killed"] += 1
                elif c.kind == "budget" and int(c.new_value) > next(
                    a.daily_budget_minor for a in arms if a.ad_id == c.ad_id
                ):
                    counts["ads_promoted"] += 1
        counts["experiments_acted"] += 1
    if counts["changes_queued"] and ctx.hooks.changes_queued is not None:
        ctx.hooks.changes_queued(tenant, counts["changes_queued"])
    out: dict[str, Any] = dict(counts)
    if notes:
        out["notes"] = notes[:20]
    if not exps:
        raise Skipped("no active experiments", **out)
    return out
