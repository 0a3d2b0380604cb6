"""Ads and their creatives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.models import Ad, Creative, PerformanceMetric, utcnow

__all__ = ["Ad", "AdOwnedElsewhere", "CreativeSpec", "get_ad", "upsert_ad"]


class AdOwnedElsewhere(LookupError):
    """The ad id exists under another tenant."""


@dataclass(frozen=True)
class CreativeSpec:
    creative_id: str | None = None
    video_id: str | None = None
    video_path: str | None = None
    hook_text: str | None = None
    cta: str | None = None
    template: str | None = None
    video_features: list[float] | None = None


def upsert_ad(
    session: Session,
    *,
    tenant_id: str,
    ad_id: str,
    launched_at: datetime | None = None,
    creative: CreativeSpec | None = None,
    **fields: Any,
) -> Ad:
    """Create or update an ad (and its creative); another tenant's id raises."""
    ad = session.get(Ad, ad_id)
    if ad is not None and ad.tenant_id != tenant_id:
        raise AdOwnedElsewhere(ad_id)
    if ad is None:
        ad = Ad(ad_id=ad_id, tenant_id=tenant_id, launched_at=launched_at or utcnow())
        session.add(ad)
    elif launched_at is not None:
        ad.launched_at = launched_at
    for key, value in fields.items():
        if value is not None:
            setattr(ad, key, value)
    if creative is not None:
        cid = creative.creative_id or f"cr-{ad_id}"
        row = session.get(Creative, cid)
        if row is None:
            row = Creative(creative_id=cid, tenant_id=tenant_id)
            session.add(row)
        elif row.tenant_id != tenant_id:
            raise AdOwnedElsewhere(cid)
        for key, value in creative.__dict__.items():
            if key != "creative_id" and value is not None:
                setattr(row, key, value)
        session.flush()
        ad.creative_id = cid
    session.flush()
    return ad


def get_ad(session: Session, tenant_id: str, ad_id: str) -> Ad | None:
    ad = session.get(Ad, ad_id)
    return ad if ad is not None and ad.tenant_id == tenant_id else None


def get_creative(session: Session, ad: Ad) -> Creative | None:
    return session.get(Creative, ad.creative_id) if ad.creative_id else None


def latest_metrics(session: Session, ad_id: str) -> PerformanceMetric | None:
    return session.scalar(
        select(PerformanceMetric)
        .where(PerformanceMetric.ad_id == ad_id)
        .order_by(PerformanceMetric.observed_at.desc(), PerformanceMetric.id.desc())
        .limit(1)
    )
