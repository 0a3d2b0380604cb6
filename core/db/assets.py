"""The asset library's rows (``assets``): one short transaction a function, every read and
write scoped to one tenant (another tenant's asset is ``None``, like a missing one)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from core.db.engine import Database
from core.db.models import Asset, utcnow
from core.db.paging import Page, newest_first


@dataclass(frozen=True)
class AssetRecord:
    """One asset's metadata (``path`` is relative to the media root)."""

    asset_id: str
    tenant_id: str
    kind: str
    name: str
    tags: list[str]
    filename: str
    path: str
    size_bytes: int
    sha256: str
    mime: str
    duration_s: float | None
    width: int | None
    height: int | None
    created_at: datetime

    @classmethod
    def of(cls, row: Asset) -> AssetRecord:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


def find_by_hash(db: Database, *, tenant_id: str, sha256: str) -> AssetRecord | None:
    with db.session() as s:
        row = s.scalar(select(Asset).where(Asset.tenant_id == tenant_id, Asset.sha256 == sha256))
        return AssetRecord.of(row) if row else None


def insert_asset(db: Database, *, record: dict[str, Any]) -> tuple[AssetRecord, bool]:
    """Insert ``record``; when the tenant already has the same content (a concurrent
    upload won the race), return that row and ``False`` instead."""
    try:
        with db.session() as s:
            row = Asset(**record, created_at=record.get("created_at") or utcnow())
            s.add(row)
            s.flush()
            return AssetRecord.of(row), True
    except IntegrityError:
        existing = find_by_hash(db, tenant_id=record["tenant_id"], sha256=record["sha256"])
        if existing is None:
            raise
        return existing, False


def get_asset(db: Database, *, tenant_id: str, asset_id: str) -> AssetRecord | None:
    with db.session() as s:
        row = s.get(Asset, asset_id)
        return AssetRecord.of(row) if row is not None and row.tenant_id == tenant_id else None


def _like(q: str) -> str:
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_assets(
    db: Database,
    *,
    tenant_id: str,
    kind: str | None = None,
    q: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[AssetRecord]:
    """The tenant's assets, newest first; ``q`` matches name or tags (case-insensitive)."""
    stmt = select(Asset).where(Asset.tenant_id == tenant_id)
    if kind:
        stmt = stmt.where(Asset.kind == kind)
    if q:
        pattern = _like(q)
        stmt = stmt.where(
            or_(
                func.lower(Asset.name).like(pattern, escape="\\"),
                func.lower(cast(Asset.tags, String)).like(pattern, escape="\\"),
            )
        )
    with db.session() as s:
        page = newest_first(
            s,
            stmt,
            created_at=Asset.created_at,
            row_id=Asset.asset_id,
            limit=limit,
            cursor=cursor,
        )
        return Page([AssetRecord.of(r) for r in page.items], page.next_cursor)


def delete_asset(db: Database, *, tenant_id: str, asset_id: str) -> AssetRecord | None:
    """Delete the tenant's asset row; the deleted record, or ``None`` when there was none."""
    with db.session() as s:
        row = s.get(Asset, asset_id)
        if row is None or row.tenant_id != tenant_id:
            return None
        record = AssetRecord.of(row)
        s.execute(delete(Asset).where(Asset.asset_id == asset_id, Asset.tenant_id == tenant_id))
        return record
