"""The ``winners`` table: the durable side of the winner memory (keyed by tenant and ad)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.models import Winner, utcnow

__all__ = ["Winner", "all_winners", "get_winner", "upsert_winner"]


def get_winner(session: Session, tenant_id: str, ad_id: str) -> Winner | None:
    return session.get(Winner, {"tenant_id": tenant_id, "ad_id": ad_id})


def upsert_winner(session: Session, *, tenant_id: str, ad_id: str, **values: object) -> Winner:
    """Insert or refresh one winner row (``times_indexed`` counts re-qualifications)."""
    key = {"tenant_id": tenant_id, "ad_id": ad_id}
    row = session.get(Winner, key, with_for_update=True)
    if row is None:
        row = Winner(**key, **values, times_indexed=1, indexed_at=utcnow())
        session.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
        row.times_indexed += 1
        row.indexed_at = utcnow()
    session.flush()
    return row


def all_winners(session: Session) -> list[Winner]:
    return list(session.scalars(select(Winner).order_by(Winner.indexed_at)))
