"""Training rows from the database: each ad's latest cumulative outcome with its creative."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db.models import Ad, Creative, PerformanceMetric


def latest_outcomes(session: Session, *, tenant_id: str) -> list[dict[str, Any]]:
    """One row per ad of the tenant: its newest metrics row joined with its creative
    (the shape ``core.ml.dataset.build_table`` takes)."""
    newest = (
        select(
            PerformanceMetric,
            func.row_number()
            .over(
                partition_by=PerformanceMetric.ad_id,
                order_by=(PerformanceMetric.observed_at.desc(), PerformanceMetric.id.desc()),
            )
            .label("rank"),
        )
        .where(PerformanceMetric.tenant_id == tenant_id)
        .subquery()
    )
    stmt = (
        select(newest, Creative.video_features, Creative.hook_text, Creative.cta, Creative.template)
        .join(Ad, (Ad.tenant_id == newest.c.tenant_id) & (Ad.ad_id == newest.c.ad_id))
        .outerjoin(
            Creative,
            (Creative.tenant_id == Ad.tenant_id) & (Creative.creative_id == Ad.creative_id),
        )
        .where(newest.c.rank == 1)
        .order_by(newest.c.observed_at, newest.c.ad_id)
    )
    keys = (
        "tenant_id",
        "ad_id",
        "observed_at",
        "impressions",
        "clicks",
        "conversions",
        "revenue",
        "video_features",
        "hook_text",
        "cta",
        "template",
    )
    return [{k: row._mapping[k] for k in keys} for row in session.execute(stmt)]
