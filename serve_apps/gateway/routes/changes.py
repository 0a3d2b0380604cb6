"""Ad changes for the safe executor (SPEC §3.5): queue, list, read, roll back.

Tenant-scoped: another tenant's change answers 404. The same idempotency key twice is one
change (the second answer is the first change, status 200 instead of 202). The executor
applies changes after their random delay; a rejected one stays, ``rejected``, with the reason
in ``error``. This router is included before ``ads`` so ``/api/ads/changes`` is never read
as an ad id.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from core.db import changes as changes_db
from core.db.models import AdChangeAudit, PendingAdChange
from core.db.paging import BadCursor
from core.domain.safety import SafetyPolicy, load_policy
from core.execution.service import (
    ChangeError,
    NewChange,
    NotRollbackable,
    request_change,
    request_rollback,
)
from serve_apps.gateway.deps import PageDep, PageParams, RequestedByDep, ServicesDep, TenantDep
from serve_apps.gateway.errors import ApiError
from serve_apps.gateway.schemas import MAX_COUNT, AdId, Strict
from serve_apps.gateway.services import Services

router = APIRouter(prefix="/api/ads/changes", tags=["changes"])
Kind = Literal["budget", "status", "create_ad"]
Status = Literal["pending", "claimed", "applied", "failed", "rejected", "rolled_back"]
ChangeId = Path(ge=1, le=MAX_COUNT)


@lru_cache(maxsize=1)
def _policy() -> SafetyPolicy:
    return load_policy()


class ChangeIn(Strict):
    kind: Kind
    idempotency_key: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="The same key twice is one change.",
    )
    account_id: str = AdId
    campaign_id: str = AdId
    ad_set_id: str | None = Field(None, min_length=1, max_length=128)
    ad_id: str | None = Field(None, min_length=1, max_length=128)
    new_value: int | str | dict[str, Any] = Field(
        description="budget: daily budget in minor units (int); status: ACTIVE | PAUSED | "
        "ARCHIVED; create_ad: {video_path, name, primary_text, headline, call_to_action, "
        "link_url, status, features}."
    )
    reason: str | None = Field(None, max_length=2000)
    confidence: float | None = Field(None, ge=0, le=1)


class ChangeOut(BaseModel):
    id: int
    kind: str
    status: str = Field(description="pending | claimed | applied | failed | rejected | rolled_back")
    idempotency_key: str
    account_id: str
    campaign_id: str
    ad_set_id: str | None
    ad_id: str | None
    object_id: str = Field(description="What the change acts on.")
    old_value: Any = Field(description="On the platform before the change (read at execution).")
    new_value: Any = Field(description="As requested.")
    applied_value: Any = Field(description="As sent (clamped to the caps when needed).")
    decision: str | None = Field(description="allow | clamp | reject")
    dry_run: bool | None = Field(description="True: decided and recorded, nothing sent.")
    reason: str | None
    requested_by: str
    confidence: float | None
    attempts: int
    error: str | None = Field(description="Why it was rejected or failed.")
    result: Any
    rollback_of: int | None
    earliest_execute_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None
    applied_at: datetime | None
    created_at: datetime
    updated_at: datetime


class AuditOut(BaseModel):
    actor: str
    action: str
    before: Any
    after: Any
    platform_response: Any
    note: str | None
    at: datetime


class ChangeDetail(ChangeOut):
    audit: list[AuditOut]


class ChangePage(BaseModel):
    data: list[ChangeOut]
    next_cursor: str | None


def _out(row: PendingAdChange) -> ChangeOut:
    return ChangeOut.model_validate(row, from_attributes=True)


def _create(services: Services, body: ChangeIn, tenant: str, who: str) -> tuple[ChangeOut, bool]:
    change = NewChange(**body.model_dump())
    try:
        with services.db.session() as s:
            row, created = request_change(
                s,
                change,
                tenant_id=tenant,
                requested_by=who,
                policy=_policy(),
                rng=random.Random(),
            )
            return _out(row), created
    except ChangeError as exc:
        raise ApiError(422, str(exc)) from exc


@router.post("", response_model=ChangeOut, status_code=202)
async def create_change(
    body: ChangeIn,
    response: Response,
    services: ServicesDep,
    tenant: TenantDep,
    who: RequestedByDep,
) -> ChangeOut:
    """Queue a budget, status or publish change (202); a known idempotency key returns its
    change (200)."""
    out, created = await asyncio.to_thread(_create, services, body, tenant, who)
    if not created:
        response.status_code = 200
    return out


def _list(services: Services, tenant: str, page: PageParams, filters: dict[str, Any]) -> ChangePage:
    try:
        with services.db.session() as s:
            rows = changes_db.list_changes(
                s, tenant_id=tenant, limit=page.limit, cursor=page.cursor, **filters
            )
            return ChangePage(data=[_out(r) for r in rows.items], next_cursor=rows.next_cursor)
    except BadCursor as exc:
        raise ApiError(422, "invalid cursor: pass the next_cursor of a previous page") from exc


@router.get("", response_model=ChangePage)
async def list_changes(
    services: ServicesDep,
    tenant: TenantDep,
    page: PageDep,
    status: Status | None = Query(None),
    kind: Kind | None = Query(None),
    ad_id: str | None = Query(None, max_length=128),
    ad_set_id: str | None = Query(None, max_length=128),
    campaign_id: str | None = Query(None, max_length=128),
) -> ChangePage:
    """This tenant's changes, newest first, a page at a time (`limit`, `cursor`), filtered by
    status, kind, ad, ad set or campaign."""
    filters = {
        "status": status,
        "kind": kind,
        "ad_id": ad_id,
        "ad_set_id": ad_set_id,
        "campaign_id": campaign_id,
    }
    return await asyncio.to_thread(_list, services, tenant, page, filters)


def _audit(a: AdChangeAudit) -> AuditOut:
    return AuditOut.model_validate(a, from_attributes=True)


def _get(services: Services, tenant: str, change_id: int) -> ChangeDetail:
    with services.db.session() as s:
        row = changes_db.get_change(s, tenant_id=tenant, change_id=change_id)
        if row is None:
            raise ApiError(404, "change not found", {"change_id": change_id})
        trail = changes_db.audit_for(s, tenant_id=tenant, change_id=change_id)
        return ChangeDetail(**_out(row).model_dump(), audit=[_audit(a) for a in trail])


@router.get("/{change_id}", response_model=ChangeDetail)
async def get_change(
    services: ServicesDep, tenant: TenantDep, change_id: int = ChangeId
) -> ChangeDetail:
    """One of this tenant's changes with its audit trail."""
    return await asyncio.to_thread(_get, services, tenant, change_id)


def _rollback(services: Services, tenant: str, change_id: int, who: str) -> tuple[ChangeOut, bool]:
    try:
        with services.db.session() as s:
            found = request_rollback(
                s, tenant_id=tenant, change_id=change_id, requested_by=who, policy=_policy()
            )
            if found is None:
                raise ApiError(404, "change not found", {"change_id": change_id})
            return _out(found[0]), found[1]
    except NotRollbackable as exc:
        raise ApiError(409, str(exc), {"change_id": change_id}) from exc


@router.post("/{change_id}/rollback", response_model=ChangeOut, status_code=202)
async def rollback_change(
    response: Response,
    services: ServicesDep,
    tenant: TenantDep,
    who: RequestedByDep,
    change_id: int = ChangeId,
) -> ChangeOut:
    """Queue the change that restores an applied budget or status change's previous value
    (202; asked again: the same rollback, 200). 409 when it cannot be undone."""
    out, created = await asyncio.to_thread(_rollback, services, tenant, change_id, who)
    if not created:
        response.status_code = 200
    return out
