"""Loop 6, the actuals fetcher: pull delivery from the ad platform for active ads whose
metrics are missing or older than ``stale_after_s``, and store each ad's lifetime totals as a
``performance_metrics`` snapshot (so the winner trigger and the sampler see them)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from core.db import changes as changes_db
from core.db.feedback import FeedbackRow, record_feedback
from core.db.models import Ad, PerformanceMetric
from core.learning.context import CycleContext, Skipped
from core.platforms.base import PlatformError

PLATFORMS = ("simulator", "meta")


def run(ctx: CycleContext) -> dict[str, Any]:
    cfg, tenant, now = ctx.config.actuals, ctx.tenant_id, ctx.now()
    if ctx.platform_for is None:
        raise Skipped("no ad platform in this process")
    stale_before = now - timedelta(seconds=cfg.stale_after_s)
    with ctx.db.session() as s:
        latest = (
            select(PerformanceMetric.ad_id, func.max(PerformanceMetric.observed_at).label("at"))
            .where(PerformanceMetric.tenant_id == tenant)
            .group_by(PerformanceMetric.ad_id)
            .subquery()
        )
        rows = list(
            s.execute(
                select(Ad, latest.c.at)
                .outerjoin(latest, latest.c.ad_id == Ad.ad_id)
                .where(
                    Ad.tenant_id == tenant,
                    func.lower(Ad.status) == "active",
                    Ad.platform.in_(PLATFORMS),
                    Ad.ad_set_id.is_not(None),  # ads the platform knows (published there)
                )
                .order_by(latest.c.at.is_not(None), latest.c.at)
            )
        )
        due = [(ad, at) for ad, at in rows if at is None or at <= stale_before][: cfg.max_ads]
        accounts = changes_db.campaign_accounts(
            s, tenant_id=tenant, campaign_ids={ad.campaign_id for ad, _ in due if ad.campaign_id}
        )
        info = {ad.ad_id: (ad.launched_at, ad.campaign_id) for ad, _ in due}
    if not due:
        raise Skipped("every active ad has fresh metrics", ads_fetched=0)
    groups: dict[str, list[str]] = defaultdict(list)
    for ad_id, (_, campaign) in info.items():
        groups[accounts.get(campaign or "", "")].append(ad_id)
    feedback: list[FeedbackRow] = []
    errors: list[str] = []
    for account, ad_ids in groups.items():
        since = min(info[a][0] for a in ad_ids).date()
        try:
            platform = ctx.platform_for(tenant, account)
            insights = platform.insights(ad_ids, since, now.date())
        except (PlatformError, ValueError) as exc:
            errors.append(f"{account or 'default account'}: {exc}")
            continue
        totals: dict[str, list[float]] = {a: [0, 0, 0, 0.0, 0.0] for a in ad_ids}
        for r in insights:
            t = totals.setdefault(r.ad_id, [0, 0, 0, 0.0, 0.0])
            t[0] += r.impressions
            t[1] += r.clicks
            t[2] += r.purchases
            t[3] += r.spend
            t[4] += r.purchase_value
        for ad_id, (imp, clicks, buys, spend, value) in totals.items():
            if imp > 0:
                feedback.append(
                    FeedbackRow(
                        ad_id=ad_id,
                        impressions=int(imp),
                        clicks=int(clicks),
                        conversions=int(buys),
                        spend=round(spend, 2),
                        revenue=round(value, 2),
                        observed_at=now,
                    )
                )
    if errors and not feedback:
        raise RuntimeError("; ".join(errors))
    winners = 0
    if feedback:
        with ctx.db.session() as s:
            results = record_feedback(s, feedback, tenant_id=tenant, rule=ctx.settings.winner)
        winners = sum(r.winner for r in results)
        if ctx.hooks.experiments_changed is not None:
            ctx.hooks.experiments_changed(tenant, [])
    counts: dict[str, Any] = {
        "ads_fetched": len(feedback),
        "ads_due": len(due),
        "winners": winners,
    }
    if errors:
        counts["errors"] = errors
    return counts
