"""Keyset pages, newest first: ``ORDER BY created_at DESC, id DESC`` and an opaque cursor.

The cursor is the last row's ``(created_at, id)`` (a string or an integer id),
base64url-encoded JSON; the next page starts strictly after it, so rows inserted meanwhile
never shift a page (unlike OFFSET).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

T = TypeVar("T")


class BadCursor(ValueError):
    """A cursor this API did not hand out."""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(created_at: datetime, row_id: str | int) -> str:
    raw = json.dumps([created_at.astimezone(UTC).isoformat(), row_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str | int]:
    """``(created_at, id)`` of a cursor; ``BadCursor`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, row_id = json.loads(raw)
        created_at = datetime.fromisoformat(at)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise BadCursor("invalid cursor") from exc
    if isinstance(row_id, bool) or not isinstance(row_id, str | int) or created_at.tzinfo is None:
        raise BadCursor("invalid cursor")
    return created_at, row_id


def newest_first(
    session: Session,
    stmt: Select[Any],
    *,
    created_at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[str] | InstrumentedAttribute[int],
    limit: int,
    cursor: str | None = None,
) -> Page[Any]:
    """One page of ``stmt``'s rows (ORM entities with ``created_at`` and ``row_id``)."""
    if cursor is not None:
        at, last_id = decode_cursor(cursor)
        stmt = stmt.where(or_(created_at < at, and_(created_at == at, row_id < last_id)))
    rows = list(session.scalars(stmt.order_by(created_at.desc(), row_id.desc()).limit(limit + 1)))
    if len(rows) <= limit:
        return Page(rows, None)
    last = rows[limit - 1]
    next_cursor = encode_cursor(getattr(last, created_at.key), getattr(last, row_id.key))
    return Page(rows[:limit], next_cursor)
