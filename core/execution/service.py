"""Asking for ad changes: the one way in for the HTTP routes and the CLI.

:func:`request_change` checks a request, gives it its ``earliest_execute_at`` (the policy's
random delay) and queues it once per idempotency key; :func:`request_rollback` queues the
change that undoes an applied one (``rollback:<id>`` is its key, so asking twice is one
rollback). The executor applies both the same way, through the safety policy.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.db import changes as db
from core.db.models import PendingAdChange, utcnow
from core.domain.safety import STATUSES, SafetyPolicy
from core.platforms.base import check_key

PUBLISH_FIELDS = (
    "video_path",
    "name",
    "primary_text",
    "headline",
    "call_to_action",
    "link_url",
    "status",
    "features",
)


class ChangeError(ValueError):
    """A request that cannot be queued (the message says why)."""


class NotRollbackable(ChangeError):
    """The change exists but cannot be undone (not applied, a dry run, a publish)."""


@dataclass(frozen=True)
class NewChange:
    kind: str
    idempotency_key: str
    account_id: str
    campaign_id: str
    new_value: Any
    ad_set_id: str | None = None
    ad_id: str | None = None
    reason: str | None = None
    confidence: float | None = None


def _object_id(c: NewChange) -> str:
    """What the change acts on: the ad set (budget, publish), the ad or else the ad set
    (status)."""
    if c.kind == "budget":
        if isinstance(c.new_value, bool) or not isinstance(c.new_value, int) or c.new_value <= 0:
            raise ChangeError("a budget change needs new_value: a positive int of minor units")
        if not c.ad_set_id:
            raise ChangeError("a budget change needs ad_set_id (budgets live on ad sets)")
        return c.ad_set_id
    if c.kind == "status":
        if c.new_value not in STATUSES:
            raise ChangeError(f"a status change needs new_value one of {', '.join(STATUSES)}")
        if not (c.ad_id or c.ad_set_id):
            raise ChangeError("a status change needs ad_id or ad_set_id")
        return c.ad_id or c.ad_set_id  # type: ignore[return-value]
    if c.kind == "create_ad":
        spec = c.new_value
        if not isinstance(spec, dict) or not spec.get("video_path") or not spec.get("name"):
            raise ChangeError("a create_ad change needs new_value with video_path and name")
        unknown = sorted(set(spec) - set(PUBLISH_FIELDS))
        if unknown:
            raise ChangeError(f"unknown create_ad field(s): {', '.join(unknown)}")
        if spec.get("status", "PAUSED") not in ("ACTIVE", "PAUSED"):
            raise ChangeError("create_ad status must be ACTIVE or PAUSED")
        if not c.ad_set_id:
            raise ChangeError("a create_ad change needs ad_set_id (the new ad's ad set)")
        return c.ad_set_id
    raise ChangeError(f"kind must be budget, status or create_ad, not {c.kind!r}")


def request_change(
    session: Session,
    change: NewChange,
    *,
    tenant_id: str,
    requested_by: str,
    policy: SafetyPolicy,
    rng: random.Random | None = None,
    now: datetime | None = None,
) -> tuple[PendingAdChange, bool]:
    """Queue ``change`` (``(row, created)``; the same key again returns the first row)."""
    try:
        check_key(change.idempotency_key)
    except ValueError as exc:
        raise ChangeError(str(exc)) from None
    existing = db.get_by_key(session, tenant_id=tenant_id, key=change.idempotency_key)
    if existing is not None:
        return existing, False
    object_id = _object_id(change)
    rng = rng or random.Random()
    value = change.new_value
    if change.kind == "budget":
        value = policy.jitter_budget(value, rng)
    return db.enqueue(
        session,
        db.ChangeRequest(
            tenant_id=tenant_id,
            idempotency_key=change.idempotency_key,
            kind=change.kind,
            account_id=change.account_id,
            campaign_id=change.campaign_id,
            object_id=object_id,
            ad_set_id=change.ad_set_id,
            ad_id=change.ad_id,
            new_value=value,
            reason=change.reason,
            confidence=change.confidence,
            requested_by=requested_by,
            earliest_execute_at=policy.execute_at(now or utcnow(), rng),
        ),
    )


def request_rollback(
    session: Session,
    *,
    tenant_id: str,
    change_id: int,
    requested_by: str,
    policy: SafetyPolicy,
    rng: random.Random | None = None,
) -> tuple[PendingAdChange, bool] | None:
    """Queue the undo of an applied budget or status change: ``None`` when the tenant has
    no such change, :class:`NotRollbackable` when it cannot be undone."""
    original = db.get_change(session, tenant_id=tenant_id, change_id=change_id)
    if original is None:
        return None
    key = f"rollback:{change_id}"
    existing = db.get_by_key(session, tenant_id=tenant_id, key=key)
    if existing is not None:
        return existing, False
    if original.kind == "create_ad":
        raise NotRollbackable("a publish cannot be rolled back: pause the ad with a status change")
    if original.status != "applied":
        raise NotRollbackable(
            f"only an applied change can be rolled back (this one is {original.status})"
        )
    if original.dry_run:
        raise NotRollbackable("a dry-run change sent nothing: there is nothing to roll back")
    rng = rng or random.Random()
    return db.enqueue(
        session,
        db.ChangeRequest(
            tenant_id=tenant_id,
            idempotency_key=key,
            kind=original.kind,
            account_id=original.account_id,
            campaign_id=original.campaign_id,
            object_id=original.object_id,
            ad_set_id=original.ad_set_id,
            ad_id=original.ad_id,
            new_value=original.old_value,
            reason=f"rollback of change {change_id}",
            requested_by=requested_by,
            rollback_of=change_id,
            earliest_execute_at=policy.execute_at(utcnow(), rng),
        ),
    )
