"""Loop 1: re-evaluate every winner on its latest metrics; drop those that no longer
qualify, re-index those whose creative or metrics changed (through the indexing queue the
winner trigger uses, so the winner memory does the embedding)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from core.db import ads as ads_db
from core.db import jobs as jobs_db
from core.db.models import PendingJob, Winner
from core.db.triggers import JOB_TYPE
from core.domain.winner import is_winner
from core.learning.context import CycleContext


def _changed(w: Winner, creative: Any, latest: Any) -> bool:
    if creative is not None and (
        (creative.hook_text, creative.cta, creative.template, creative.video_features)
        != (w.hook_text, w.cta, w.template, w.video_features)
    ):
        return True
    return latest.impressions != w.impressions or round(latest.ctr, 6) != round(w.ctr, 6)


def run(ctx: CycleContext) -> dict[str, Any]:
    rule, tenant = ctx.settings.winner, ctx.tenant_id
    dropped: list[str] = []
    reindexed: list[str] = []
    with ctx.db.session() as s:
        winners = list(s.scalars(select(Winner).where(Winner.tenant_id == tenant)))
        pending = set(
            s.scalars(
                select(PendingJob.dedupe_key).where(
                    PendingJob.tenant_id == tenant,
                    PendingJob.job_type == JOB_TYPE,
                    PendingJob.status == "pending",
                )
            )
        )
        for w in winners:
            ad = ads_db.get_ad(s, tenant, w.ad_id)
            latest = ads_db.latest_metrics(s, tenant, w.ad_id)
            if ad is None or latest is None:
                continue  # indexed by hand without metrics: nothing to re-evaluate
            hours = (latest.observed_at - ad.launched_at).total_seconds() / 3600.0
            if not is_winner(
                hours_live=hours,
                impressions=latest.impressions,
                ctr=latest.ctr,
                roas=latest.roas,
                rule=rule,
            ):
                s.execute(delete(Winner).where(Winner.tenant_id == tenant, Winner.ad_id == w.ad_id))
                dropped.append(w.ad_id)
                continue
            key = f"{tenant}:{w.ad_id}"
            creative = ads_db.get_creative(s, ad)
            if (
                ctx.config.winner_refresh.reembed
                and key not in pending
                and _changed(w, creative, latest)
            ):
                payload = {
                    "ad_id": w.ad_id,
                    "video_id": latest.video_id or w.video_id,
                    "tenant_id": tenant,
                    "ctr": latest.ctr,
                    "roas": latest.roas,
                    "impressions": latest.impressions,
                    "metrics_id": latest.id,
                }
                jobs_db.enqueue(s, JOB_TYPE, payload, tenant_id=tenant, dedupe_key=key)
                reindexed.append(w.ad_id)
    if (dropped or reindexed) and ctx.hooks.winners_changed is not None:
        ctx.hooks.winners_changed(tenant, dropped, reindexed)
    return {
        "winners_checked": len(winners),
        "winners_dropped": len(dropped),
        "winners_indexed": len(reindexed),
    }
