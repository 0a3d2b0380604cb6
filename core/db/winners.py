"""The ``winners`` table: the durable side of the winner memory."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.models import Winner, utcnow

__all__ = ["Winner", "all_winners", "upsert_winner"]


def upsert_winner(session: Session, **values: object) -> Winner:
    """Insert or refresh one winner row (``times_indexed`` counts re-qualifications)."""
    row = session.get(Winner, values["ad_id"], with_for_update=True)
    if row is None:
        row = Winner(**values, times_indexed=1, indexed_at=utcnow())
        session.add(row)
    else:
        for key, value in values.items():
            setattr(row, key, value)
        row.times_indexed += 1
        row.indexed_at = utcnow()
    session.flush()
    return row


def all_winners(session: Session) -> list[Winner]:
    return list(session.scalars(select(Winner).order_by(Winner.indexed_at)))
