"""Ads and their creatives, keyed by ``(tenant_id, id)``: another tenant's id is just unknown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, tuple_
from sqlalchemy.orm import Session

from core.db.models import Ad, Creative, PerformanceMetric, utcnow
from core.db.paging import Page, newest_first

__all__ = ["Ad", "CreativeSpec", "get_ad", "list_ads", "upsert_ad"]


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
    """Create or update one of the tenant's ads (and its creative)."""
    ad = get_ad(session, tenant_id, ad_id)
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
        row = session.get(Creative, {"tenant_id": tenant_id, "creative_id": cid})
        if row is None:
            row = Creative(creative_id=cid, tenant_id=tenant_id)
            session.add(row)
        for key, value in creative.__dict__.items():
            if key != "creative_id" and value is not None:
                setattr(row, key, value)
        session.flush()
        ad.creative_id = cid
    session.flush()
    return ad


def get_ad(session: Session, tenant_id: str, ad_id: str) -> Ad | None:
    return session.get(Ad, {"tenant_id": tenant_id, "ad_id": ad_id})


def list_ads(session: Session, *, tenant_id: str, limit: int, cursor: str | None) -> Page[Ad]:
    """The tenant's ads, newest first (``BadCursor`` for a cursor we did not hand out)."""
    stmt = select(Ad).where(Ad.tenant_id == tenant_id)
    return newest_first(
        session, stmt, created_at=Ad.created_at, row_id=Ad.ad_id, limit=limit, cursor=cursor
    )


def get_creative(session: Session, ad: Ad) -> Creative | None:
    if not ad.creative_id:
        return None
    return session.get(Creative, {"tenant_id": ad.tenant_id, "creative_id": ad.creative_id})


def ads_with_creatives(
    session: Session, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[Ad, Creative | None]]:
    """(tenant, ad id) -> (ad, its creative or None), for many ads in one query."""
    if not keys:
        return {}
    stmt = (
        select(Ad, Creative)
        .outerjoin(
            Creative,
            and_(Creative.tenant_id == Ad.tenant_id, Creative.creative_id == Ad.creative_id),
        )
        .where(tuple_(Ad.tenant_id, Ad.ad_id).in_(keys))
    )
    return {(ad.tenant_id, ad.ad_id): (ad, creative) for ad, creative in session.execute(stmt)}


def latest_metrics(session: Session, tenant_id: str, ad_id: str) -> PerformanceMetric | None:
    return session.scalar(
        select(PerformanceMetric)
        .where(PerformanceMetric.tenant_id == tenant_id, PerformanceMetric.ad_id == ad_id)
        .order_by(PerformanceMetric.observed_at.desc(), PerformanceMetric.id.desc())
        .limit(1)
    )
