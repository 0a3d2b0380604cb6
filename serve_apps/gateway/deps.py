"""Shared FastAPI dependencies, as type aliases (``ServicesDep``, ``TenantDep``,
``RequestedByDep``, ``SessionDep``, ``PageDep``).

Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in
its thread pool, a thread hop per dependency and request (it was most of a feedback
request's CPU). Only ``get_session``, which blocks on the database, stays a ``def``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from serve_apps.gateway.services import Services


async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_tenant(request: Request) -> str:
    """The caller's tenant (set by authentication; the default tenant otherwise)."""
    tenant = getattr(request.state, "tenant_id", None)
    return tenant or request.app.state.services.settings.tenant_id


TenantDep = Annotated[str, Depends(get_tenant)]


async def get_requested_by(request: Request) -> str:
    """Who asked, for audit rows: ``api:<key prefix>`` (``api`` without a key)."""
    prefix = getattr(request.state, "api_key_prefix", None)
    return f"api:{prefix}" if prefix else "api"


RequestedByDep = Annotated[str, Depends(get_requested_by)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    """A session in one transaction, committed when the handler returns."""
    with services.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class PageParams:
    limit: int
    cursor: str | None


async def get_page(
    limit: int = Query(50, ge=1, le=500, description="Rows per page (at most 500)."),
    cursor: str | None = Query(
        None, min_length=1, max_length=512, description="`next_cursor` of the previous page."
    ),
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


PageDep = Annotated[PageParams, Depends(get_page)]
