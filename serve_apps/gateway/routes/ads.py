"""Register ads (launch time, creative copy) so the winner rule and memory know them; list them.

Ads are keyed by (tenant, ad id): another tenant's ad with the same id is simply a different
ad, and no answer here says that it exists.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from core.db import ads as ads_db
from core.db.paging import BadCursor
from serve_apps.gateway.deps import PageDep, PageParams, ServicesDep, TenantDep
from serve_apps.gateway.errors import ApiError
from serve_apps.gateway.schemas import AdIn, AdOut, AdPage
from serve_apps.gateway.services import Services

router = APIRouter(prefix="/api/ads", tags=["ads"])


def _out(ad: ads_db.Ad) -> AdOut:
    return AdOut.model_validate(ad, from_attributes=True)


def _upsert(services: Services, body: AdIn, tenant: str) -> AdOut:
    data = body.model_dump(exclude={"ad_id", "launched_at", "creative"})
    creative = ads_db.CreativeSpec(**body.creative.model_dump()) if body.creative else None
    with services.db.session() as s:
        ad = ads_db.upsert_ad(
            s,
            tenant_id=tenant,
            ad_id=body.ad_id,
            launched_at=body.launched_at,
            creative=creative,
            **data,
        )
        return _out(ad)


@router.post("", response_model=AdOut)
async def upsert_ad(body: AdIn, services: ServicesDep, tenant: TenantDep) -> AdOut:
    """Create or update an ad and its creative."""
    return await asyncio.to_thread(_upsert, services, body, tenant)


def _list(services: Services, tenant: str, page: PageParams) -> AdPage:
    try:
        with services.db.session() as s:
            rows = ads_db.list_ads(s, tenant_id=tenant, limit=page.limit, cursor=page.cursor)
            return AdPage(data=[_out(ad) for ad in rows.items], next_cursor=rows.next_cursor)
    except BadCursor as exc:
        raise ApiError(422, "invalid cursor: pass the next_cursor of a previous page") from exc


@router.get("", response_model=AdPage)
async def list_ads(services: ServicesDep, tenant: TenantDep, page: PageDep) -> AdPage:
    """This tenant's ads, newest first, a page at a time (`limit`, `cursor`)."""
    return await asyncio.to_thread(_list, services, tenant, page)


def _get(services: Services, ad_id: str, tenant: str) -> AdOut:
    with services.db.session() as s:
        ad = ads_db.get_ad(s, tenant, ad_id)
        if ad is None:
            raise ApiError(404, "unknown ad", {"ad_id": ad_id})
        return _out(ad)


# Static paths (/api/ads/changes: routes/changes.py, included first) stay above this one.
@router.get("/{ad_id}", response_model=AdOut)
async def get_ad(ad_id: str, services: ServicesDep, tenant: TenantDep) -> AdOut:
    return await asyncio.to_thread(_get, services, ad_id, tenant)
