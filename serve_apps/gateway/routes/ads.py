"""Register ads (launch time, creative copy) so the winner rule and memory know them."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from core.db import ads as ads_db
from serve_apps.gateway.deps import ServicesDep, TenantDep
from serve_apps.gateway.errors import ApiError
from serve_apps.gateway.schemas import AdIn, AdOut
from serve_apps.gateway.services import Services

router = APIRouter(prefix="/api/ads", tags=["ads"])


def _out(ad: ads_db.Ad) -> AdOut:
    return AdOut.model_validate(ad, from_attributes=True)


def _upsert(services: Services, body: AdIn, tenant: str) -> AdOut:
    data = body.model_dump(exclude={"ad_id", "launched_at", "creative"})
    creative = ads_db.CreativeSpec(**body.creative.model_dump()) if body.creative else None
    try:
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
    except ads_db.AdOwnedElsewhere as exc:
        raise ApiError(409, "id already in use", {"id": str(exc)}) from exc


@router.post("", response_model=AdOut)
async def upsert_ad(body: AdIn, services: ServicesDep, tenant: TenantDep) -> AdOut:
    """Create or update an ad and its creative."""
    return await asyncio.to_thread(_upsert, services, body, tenant)


def _get(services: Services, ad_id: str, tenant: str) -> AdOut:
    with services.db.session() as s:
        ad = ads_db.get_ad(s, tenant, ad_id)
        if ad is None:
            raise ApiError(404, "unknown ad", {"ad_id": ad_id})
        return _out(ad)


@router.get("/{ad_id}", response_model=AdOut)
async def get_ad(ad_id: str, services: ServicesDep, tenant: TenantDep) -> AdOut:
    return await asyncio.to_thread(_get, services, ad_id, tenant)
