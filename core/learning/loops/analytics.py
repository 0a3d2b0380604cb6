"""Loops 3 and 4 on one table of the tenant's ads (creative attributes and lifetime totals):
the cross-learner's per-feature lift (``core/learning/cross_learning.py``) and the creative
DNA of winners (``core/learning/creative_dna.py``), each stored as the cycle's result.

A winner here is an ad whose latest metrics meet the winner rule (hours from its launch), the
rule's own definition, whether or not the winner memory has indexed it yet."""

from __future__ import annotations

import zlib
from typing import Any

import pandas as pd
from sqlalchemy import func, select

from core.db import learning as repo
from core.db.models import Ad, Creative, PerformanceMetric
from core.domain.winner import is_winner
from core.learning.analytics_config import LearningAnalyticsConfig
from core.learning.context import CycleContext, Skipped
from core.learning.creative_dna import extract_dna
from core.learning.cross_learning import creative_attributes, feature_lift

TOTALS = ("impressions", "clicks", "conversions", "spend", "revenue")


def ads_table(ctx: CycleContext) -> pd.DataFrame:
    """One row per ad with metrics: ids, lifetime totals (latest snapshot), creative
    attributes and ``is_winner``."""
    tenant = ctx.tenant_id
    with ctx.db.session() as s:
        last = (
            select(PerformanceMetric.ad_id, func.max(PerformanceMetric.id).label("id"))
            .where(PerformanceMetric.tenant_id == tenant)
            .group_by(PerformanceMetric.ad_id)
            .subquery()
        )
        rows = s.execute(
            select(
                Ad.ad_id,
                Ad.campaign_id,
                Ad.launched_at,
                PerformanceMetric.observed_at,
                PerformanceMetric.ctr,
                PerformanceMetric.roas,
                *(getattr(PerformanceMetric, c) for c in TOTALS),
                Creative.hook_text,
                Creative.cta,
                Creative.template,
                Creative.video_features,
            )
            .join(last, last.c.ad_id == Ad.ad_id)
            .join(PerformanceMetric, PerformanceMetric.id == last.c.id)
            .outerjoin(
                Creative,
                (Creative.tenant_id == Ad.tenant_id) & (Creative.creative_id == Ad.creative_id),
            )
            .where(Ad.tenant_id == tenant)
        ).all()
    cols = [
        "ad_id",
        "campaign_id",
        "launched_at",
        "observed_at",
        "ctr",
        "roas",
        *TOTALS,
        "hook_text",
        "cta",
        "template",
        "video_features",
    ]
    df = pd.DataFrame(rows, columns=cols)
    if df.empty:
        return df
    rule = ctx.settings.winner
    winners = {
        r.ad_id
        for r in df.itertuples()
        if is_winner(
            hours_live=(r.observed_at - r.launched_at).total_seconds() / 3600.0,
            impressions=int(r.impressions),
            ctr=float(r.ctr),
            roas=float(r.roas),
            rule=rule,
        )
    }
    df["campaign_id"] = df["campaign_id"].fillna("none")
    attrs = creative_attributes(df[["hook_text", "cta", "template", "video_features"]])
    out = pd.concat([df[["ad_id", "campaign_id", *TOTALS]], attrs], axis=1)
    out["is_winner"] = out["ad_id"].isin(winners)
    return out


def _seed(ctx: CycleContext) -> int:
    return zlib.crc32(ctx.cycle_id.encode())


def _table(ctx: CycleContext) -> pd.DataFrame:
    """The ads table, read once a cycle for both loops (loop 3 writes nothing it reads)."""
    df = ctx.shared.get("ads_table")
    if df is None:
        df = ctx.shared["ads_table"] = ads_table(ctx)
    if df.empty:
        raise Skipped("no ads with metrics yet", ads=0)
    return df


def cross_learning(ctx: CycleContext) -> dict[str, Any]:
    cfg = LearningAnalyticsConfig.load().cross_learning
    df = _table(ctx)
    insights = feature_lift(
        df.drop(columns=["is_winner"]),
        min_ads=cfg.min_ads,
        min_impressions=cfg.min_impressions,
        confidence=cfg.confidence,
        bootstrap_rounds=cfg.bootstrap_rounds,
        seed=_seed(ctx),
        max_insights=cfg.max_insights,
    )
    found = [i.to_dict() for i in insights]
    significant = sum(i.significant for i in insights)
    payload = {
        "ads": len(df),
        "campaigns": int(df["campaign_id"].nunique()),
        "significant": significant,
        "insights": found,
    }
    with ctx.db.session() as s:
        repo.save_result(
            s,
            tenant_id=ctx.tenant_id,
            cycle_id=ctx.cycle_id,
            kind="insights",
            payload=payload,
            now=ctx.now(),
        )
    return {"insights": len(found), "significant": significant, "ads": len(df)}


def creative_dna(ctx: CycleContext) -> dict[str, Any]:
    cfg = LearningAnalyticsConfig.load().creative_dna
    df = _table(ctx)
    result = extract_dna(df, config=cfg, seed=_seed(ctx))
    if result.status == "skipped":
        raise Skipped(result.reason or "not enough winners", ads=len(df))
    payload = result.to_dict()
    with ctx.db.session() as s:
        repo.save_result(
            s,
            tenant_id=ctx.tenant_id,
            cycle_id=ctx.cycle_id,
            kind="creative_dna",
            payload=payload,
            now=ctx.now(),
        )
    return {
        "patterns_extracted": len(result.rules),
        "winners": result.n_winners,
        "ads": result.n_ads,
    }
