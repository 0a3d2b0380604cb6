"""Loop 2: bring every active experiment up to date: arms for the campaign's new ads,
retired arms removed (their ad paused, archived or deleted), evidence refolded from the
metrics history and decayed to now. The sampler actor is told to reload."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from core.db import experiments as repo
from core.db.models import Ad, ExperimentArm
from core.domain.thompson import Evidence, decay_factor, fold_all
from core.learning.context import CycleContext


def decayed_to(ev: Evidence, now: datetime, half_life_h: float | None) -> Evidence:
    """``ev`` with its evidence decayed from its last snapshot to ``now``."""
    if ev.at is None:
        return ev
    f = decay_factor((now.timestamp() - ev.at) / 3600.0, half_life_h)
    return replace(ev, successes=ev.successes * f, failures=ev.failures * f)


def run(ctx: CycleContext) -> dict[str, Any]:
    cfg, tenant, now = ctx.config.thompson_update, ctx.tenant_id, ctx.now()
    retire = {s.lower() for s in cfg.retire_statuses}
    updated: list[str] = []
    added = removed = 0
    with ctx.db.session() as s:
        exps = repo.active_experiments(s, tenant)
        for exp in exps:
            arms = repo.list_arms(s, tenant_id=tenant, experiment_id=exp.experiment_id)
            arm_ids = [a.ad_id for a in arms]
            ads = {
                a.ad_id: a
                for a in s.scalars(select(Ad).where(Ad.tenant_id == tenant, Ad.ad_id.in_(arm_ids)))
            }
            keep = [a for a in arm_ids if a not in ads or ads[a].status.lower() not in retire]
            # never below min_arms: keep retired arms too, in arm order, to make up the number
            retired = [a for a in arm_ids if a not in keep]
            keep += retired[: max(cfg.min_arms - len(keep), 0)]
            gone = [a for a in arm_ids if a not in keep]
            new: list[str] = []
            campaigns = {ads[a].campaign_id for a in keep if a in ads and ads[a].campaign_id}
            if cfg.add_new_ads and campaigns:
                candidates = s.execute(
                    select(Ad.ad_id, Ad.status).where(
                        Ad.tenant_id == tenant,
                        Ad.campaign_id.in_(campaigns),
                        Ad.ad_id.not_in(arm_ids),
                    )
                )
                new = [a for a, status in candidates if (status or "").lower() not in retire]
            if gone:
                s.execute(
                    delete(ExperimentArm).where(
                        ExperimentArm.tenant_id == tenant,
                        ExperimentArm.experiment_id == exp.experiment_id,
                        ExperimentArm.ad_id.in_(gone),
                    )
                )
            s.add_all(
                ExperimentArm(
                    tenant_id=tenant,
                    experiment_id=exp.experiment_id,
                    ad_id=a,
                    alpha=exp.prior_alpha,
                    beta=exp.prior_beta,
                    trials=0,
                    successes=0,
                )
                for a in new
            )
            s.flush()
            spec = repo.to_spec(exp, sorted(keep + new))
            history = repo.metric_history(s, tenant_id=tenant, ad_ids=list(spec.ad_ids))
            evidence = {
                a: decayed_to(
                    fold_all(repo.to_snapshots(history[a], spec.metric), spec.half_life_h),
                    now,
                    spec.half_life_h,
                )
                for a in spec.ad_ids
            }
            repo.save_arms(s, spec=spec, evidence=evidence)
            repo.add_event(
                s,
                tenant_id=tenant,
                experiment_id=exp.experiment_id,
                kind="cycle_update",
                payload={
                    "cycle_id": ctx.cycle_id,
                    "added": new,
                    "removed": gone,
                    "at": now.astimezone(UTC).isoformat(),
                },
            )
            added, removed = added + len(new), removed + len(gone)
            updated.append(exp.experiment_id)
    if updated and ctx.hooks.experiments_changed is not None:
        ctx.hooks.experiments_changed(tenant, updated)
    return {"experiments_updated": len(updated), "arms_added": added, "arms_removed": removed}
