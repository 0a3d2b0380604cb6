"""The ``winners`` table: the durable side of the winner memory (keyed by tenant and ad)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from core.db.models import Winner, utcnow

__all__ = ["Winner", "all_winners", "get_winner", "tenant_winners", "upsert_winners"]


def get_winner(session: Session, tenant_id: str, ad_id: str) -> Winner | None:
    return session.get(Winner, {"tenant_id": tenant_id, "ad_id": ad_id})


def upsert_winners(
    session: Session, values: list[dict[str, Any]], **common: object
) -> dict[tuple[str, str], Winner]:
    """Insert or refresh winner rows (``times_indexed`` counts re-qualifications): one
    locking read of the existing ones, one flush. Each dict holds ``tenant_id``, ``ad_id``
    and the columns; the same ad twice keeps the last values (and counts twice)."""
    keys = list(dict.fromkeys((v["tenant_id"], v["ad_id"]) for v in values))
    rows: dict[tuple[str, str], Winner] = {}
    if keys:
        stmt = select(Winner).where(tuple_(Winner.tenant_id, Winner.ad_id).in_(keys))
        rows = {(w.tenant_id, w.ad_id): w for w in session.scalars(stmt.with_for_update())}
    now = utcnow()
    for v in values:
        key = (v["tenant_id"], v["ad_id"])
        row = rows.get(key)
        if row is None:
            row = rows[key] = Winner(**v, **common, times_indexed=1, indexed_at=now)
            session.add(row)
            continue
        for name, value in {**v, **common}.items():
            setattr(row, name, value)
        row.times_indexed += 1
        row.indexed_at = now
    session.flush()
    return rows


def all_winners(session: Session) -> list[Winner]:
    return list(session.scalars(select(Winner).order_by(Winner.indexed_at)))


def tenant_winners(session: Session, tenant_id: str, limit: int) -> list[Winner]:
    """The tenant's winners, most recently indexed first (at most ``limit``)."""
    stmt = (
        select(Winner)
        .where(Winner.tenant_id == tenant_id)
        .order_by(Winner.indexed_at.desc(), Winner.ad_id)
        .limit(limit)
    )
    return list(session.scalars(stmt))
