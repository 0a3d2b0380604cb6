"""Ad changes for the safe executor (SPEC §3.5): queue, claim, mark, finish; audit; kill switch.

One statement a function where it can be. The PostgreSQL / SQLite differences live here:
``FOR UPDATE SKIP LOCKED`` in :func:`claim` (SQLite ignores it; its writers are serialised by
``BEGIN IMMEDIATE``), ``ON CONFLICT`` through each dialect's ``insert`` in :func:`enqueue`,
and the per-campaign advisory lock of :func:`lock_campaign` (a no-op on SQLite, same reason).

Statuses: ``pending`` → ``claimed`` → ``applied`` | ``failed`` | ``rejected``; an applied
change that was undone is ``rolled_back``. A claim leases the row for ``lease_s``; a worker
that dies leaves a lease that expires, and the change is claimed again. Every write of a
claimed row names its worker, so a worker whose lease was taken over changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.db.models import AdChangeAudit, KillSwitch, PendingAdChange, utcnow
from core.db.paging import BadCursor, Page, decode_cursor, newest_first
from core.domain.safety import AppliedChange

NOTIFY_CHANNEL = "adcluster_ad_changes"
GLOBAL = "*"  # kill-switch scope of every tenant
STATUSES = ("pending", "claimed", "applied", "failed", "rejected", "rolled_back")
KINDS = ("budget", "status", "create_ad")

__all__ = [
    "GLOBAL",
    "NOTIFY_CHANNEL",
    "ChangeRequest",
    "PendingAdChange",
    "add_audit",
    "audit_for",
    "claim",
    "counts",
    "enqueue",
    "finish",
    "get_change",
    "history",
    "kill_switch_reason",
    "list_changes",
    "list_kill_switches",
    "lock_campaign",
    "mark_sending",
    "release",
    "set_kill_switch",
]


@dataclass(frozen=True)
class ChangeRequest:
    """What a caller asks for (validated by the route or the CLI before it gets here)."""

    tenant_id: str
    idempotency_key: str
    kind: str
    account_id: str
    campaign_id: str
    object_id: str
    new_value: Any
    requested_by: str
    earliest_execute_at: datetime
    ad_set_id: str | None = None
    ad_id: str | None = None
    reason: str | None = None
    confidence: float | None = None
    rollback_of: int | None = None
    old_value: Any = None


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def get_change(session: Session, *, tenant_id: str, change_id: int) -> PendingAdChange | None:
    """One of the tenant's changes (another tenant's id reads as missing)."""
    return session.scalar(
        select(PendingAdChange).where(
            PendingAdChange.id == change_id, PendingAdChange.tenant_id == tenant_id
        )
    )


def get_by_key(session: Session, *, tenant_id: str, key: str) -> PendingAdChange | None:
    return session.scalar(
        select(PendingAdChange).where(
            PendingAdChange.tenant_id == tenant_id, PendingAdChange.idempotency_key == key
        )
    )


def enqueue(session: Session, req: ChangeRequest) -> tuple[PendingAdChange, bool]:
    """Queue a change once per ``(tenant, idempotency_key)``: ``(change, created)``; the same
    key again returns the first change (``created`` False), whatever else it carries."""
    now = utcnow()
    values = {**req.__dict__, "status": "pending", "attempts": 0}
    values.update(created_at=now, updated_at=now)
    stmt = (
        _insert(session)(PendingAdChange)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
        .returning(PendingAdChange.id)
    )
    new_id = session.scalar(stmt)
    change = get_by_key(session, tenant_id=req.tenant_id, key=req.idempotency_key)
    assert change is not None
    if new_id is not None:
        add_audit(
            session,
            change,
            actor=req.requested_by,
            action="requested",
            after=req.new_value,
            note=req.reason,
        )
    return change, new_id is not None


def list_changes(
    session: Session,
    *,
    tenant_id: str,
    limit: int,
    cursor: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    ad_id: str | None = None,
    ad_set_id: str | None = None,
    campaign_id: str | None = None,
) -> Page[PendingAdChange]:
    """The tenant's changes, newest first (``BadCursor`` for a cursor we did not hand out)."""
    if cursor is not None and not isinstance(decode_cursor(cursor)[1], int):
        raise BadCursor("invalid cursor")
    stmt = select(PendingAdChange).where(PendingAdChange.tenant_id == tenant_id)
    for column, value in (
        (PendingAdChange.status, status),
        (PendingAdChange.kind, kind),
        (PendingAdChange.ad_id, ad_id),
        (PendingAdChange.ad_set_id, ad_set_id),
        (PendingAdChange.campaign_id, campaign_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return newest_first(
        session,
        stmt,
        created_at=PendingAdChange.created_at,
        row_id=PendingAdChange.id,
        limit=limit,
        cursor=cursor,
    )


# --- the executor's side --------------------------------------------------------------
def claim(
    session: Session,
    *,
    worker: str,
    limit: int,
    lease_s: float,
    reclaim_own: bool = False,
    now: datetime | None = None,
) -> list[PendingAdChange]:
    """Take up to ``limit`` due changes (``earliest_execute_at`` passed, or a claim whose
    lease expired); no two workers get the same row. ``reclaim_own``: also this worker's
    own live claims (a restarted worker of the same id takes back what it held)."""
    now = now or utcnow()
    due = [
        and_(PendingAdChange.status == "pending", PendingAdChange.earliest_execute_at <= now),
        and_(PendingAdChange.status == "claimed", PendingAdChange.leased_until < now),
    ]
    if reclaim_own:
        due.append(and_(PendingAdChange.status == "claimed", PendingAdChange.claimed_by == worker))
    candidates = (
        select(PendingAdChange.id)
        .where(or_(*due))
        .order_by(PendingAdChange.earliest_execute_at, PendingAdChange.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(PendingAdChange)
        .where(PendingAdChange.id.in_(candidates.scalar_subquery()))
        .values(
            status="claimed",
            attempts=PendingAdChange.attempts + 1,
            claimed_by=worker,
            claimed_at=now,
            leased_until=now + timedelta(seconds=lease_s),
            updated_at=now,
        )
        .returning(PendingAdChange)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.scalars(stmt).all(), key=lambda c: (c.earliest_execute_at, c.id))


def _held(change_id: int, worker: str) -> Any:
    return and_(
        PendingAdChange.id == change_id,
        PendingAdChange.status == "claimed",
        PendingAdChange.claimed_by == worker,
    )


def mark_sending(
    session: Session,
    change_id: int,
    *,
    worker: str,
    old_value: Any,
    applied_value: Any,
    decision: str,
    lease_s: float,
    effective_at: datetime | None = None,
) -> bool:
    """Before the platform call: record what is about to be sent (and renew the lease).
    False when this worker no longer holds the claim (send nothing then). ``effective_at``:
    when the change takes effect, the time the safety caps count it at (default now)."""
    now = utcnow()
    result = session.execute(
        update(PendingAdChange)
        .where(_held(change_id, worker))
        .values(
            phase="sending",
            old_value=old_value,
            applied_value=applied_value,
            decision=decision,
            dry_run=False,
            applied_at=effective_at or now,  # tentative: in-flight changes count against the caps
            leased_until=now + timedelta(seconds=lease_s),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def finish(
    session: Session,
    change: PendingAdChange,
    *,
    worker: str,
    status: str,
    action: str,
    before: Any = None,
    after: Any = None,
    response: Any = None,
    error: str | None = None,
    note: str | None = None,
    effective_at: datetime | None = None,
    **fields: Any,
) -> bool:
    """Close a claimed change (``applied`` / ``rejected`` / ``failed``) and write its audit
    row, in the caller's transaction. False (and nothing written) when the claim was lost.
    ``effective_at``: when an applied change took effect (default now; the safety caps count
    it then)."""
    now = utcnow()
    values: dict[str, Any] = {
        "status": status,
        "phase": None,
        "leased_until": None,
        "updated_at": now,
        "error": error[:4000] if error else None,
        **fields,
    }
    if status == "applied":
        values["applied_at"] = effective_at or now
        values["result"] = _jsonable(response)
    elif "applied_at" not in fields:
        values["applied_at"] = None
    result = session.execute(
        update(PendingAdChange)
        .where(_held(change.id, worker))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    add_audit(
        session,
        change,
        actor=worker,
        action=action,
        before=before,
        after=after,
        response=response,
        note=note or error,
    )
    if status == "applied" and change.rollback_of is not None and not fields.get("dry_run"):
        session.execute(
            update(PendingAdChange)
            .where(
                PendingAdChange.id == change.rollback_of,
                PendingAdChange.tenant_id == change.tenant_id,
                PendingAdChange.status == "applied",
            )
            .values(status="rolled_back", updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return True


def release(
    session: Session,
    change: PendingAdChange,
    *,
    worker: str,
    retry_at: datetime,
    error: str,
    action: str = "retry",
    refund: bool = False,
) -> bool:
    """Give a claimed change back for a later try (``phase`` is kept: a change whose send
    may have reached the platform is read back first next time). ``refund``: the try does
    not count (a change deferred by a time window)."""
    attempts = PendingAdChange.attempts - 1 if refund else PendingAdChange.attempts
    result = session.execute(
        update(PendingAdChange)
        .where(_held(change.id, worker))
        .values(
            status="pending",
            attempts=attempts,
            earliest_execute_at=retry_at,
            leased_until=None,
            claimed_by=None,
            error=error[:4000],
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    add_audit(session, change, actor=worker, action=action, note=error)
    return True


def clear_phase(session: Session, change_id: int, *, worker: str) -> bool:
    """The read-back showed the earlier send did not happen: evaluate afresh."""
    result = session.execute(
        update(PendingAdChange)
        .where(_held(change_id, worker))
        .values(phase=None, applied_at=None, applied_value=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def lock_campaign(session: Session, tenant_id: str, campaign_id: str) -> None:
    """Serialise policy decisions on one campaign until the transaction ends (PostgreSQL
    advisory lock; SQLite's writers are serialised already)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"adc-campaign:{tenant_id}:{campaign_id}"},
        )


def history(
    session: Session, *, tenant_id: str, campaign_id: str, since: datetime
) -> list[AppliedChange]:
    """Changes on the campaign applied (for real) or in flight since ``since``: what the
    policy counts. A rolled-back change still happened, so it counts too."""
    rows = session.scalars(
        select(PendingAdChange).where(
            PendingAdChange.tenant_id == tenant_id,
            PendingAdChange.campaign_id == campaign_id,
            PendingAdChange.applied_at > since,
            or_(
                and_(
                    PendingAdChange.status.in_(("applied", "rolled_back")),
                    PendingAdChange.dry_run.is_(False),
                ),
                PendingAdChange.phase == "sending",
            ),
        )
    ).all()
    out = []
    for r in rows:
        # A budget row without both budgets (never expected) still counts as an action.
        budget = r.kind == "budget" and isinstance(r.old_value, int)
        out.append(
            AppliedChange(
                tenant_id=r.tenant_id,
                account_id=r.account_id,
                campaign_id=r.campaign_id,
                object_id=r.object_id,
                kind=r.kind if budget or r.kind != "budget" else "status",
                applied_at=r.applied_at,
                old_budget_minor=r.old_value if budget else None,
                new_budget_minor=r.applied_value if budget else None,
            )
        )
    return out


def campaign_accounts(
    session: Session, *, tenant_id: str, campaign_ids: Collection[str]
) -> dict[str, str]:
    """Campaign -> the ad account its latest change went to (campaigns never changed
    through here are absent)."""
    if not campaign_ids:
        return {}
    rows = session.execute(
        select(PendingAdChange.campaign_id, PendingAdChange.account_id)
        .where(
            PendingAdChange.tenant_id == tenant_id,
            PendingAdChange.campaign_id.in_(list(campaign_ids)),
        )
        .order_by(PendingAdChange.id)
    )
    return {c: a for c, a in rows}


def account_budgets(session: Session, *, tenant_id: str, account_id: str) -> dict[str, int]:
    """The latest budget this system set on each ad set of an ad account (for the daily
    ceiling: budgets set elsewhere are not known here)."""
    rows = session.execute(
        select(PendingAdChange.object_id, PendingAdChange.applied_value)
        .where(
            PendingAdChange.tenant_id == tenant_id,
            PendingAdChange.account_id == account_id,
            PendingAdChange.kind == "budget",
            PendingAdChange.status.in_(("applied", "rolled_back")),
            PendingAdChange.dry_run.is_(False),
        )
        .order_by(PendingAdChange.applied_at)
    ).all()
    return {obj: int(v) for obj, v in rows if isinstance(v, int)}


def counts(
    session: Session, tenant_id: str | None = None, statuses: Collection[str] | None = None
) -> dict[str, int]:
    """Changes by status (of one tenant or all; only ``statuses`` when given, each present)."""
    stmt = select(PendingAdChange.status, func.count()).group_by(PendingAdChange.status)
    if tenant_id is not None:
        stmt = stmt.where(PendingAdChange.tenant_id == tenant_id)
    if statuses is not None:
        stmt = stmt.where(PendingAdChange.status.in_(list(statuses)))
        found = dict(session.execute(stmt).all())
        return {status: int(found.get(status, 0)) for status in statuses}
    return {status: n for status, n in session.execute(stmt).all()}


def next_due(session: Session) -> datetime | None:
    """When the next pending change becomes due (the executor sleeps until then)."""
    return session.scalar(
        select(func.min(PendingAdChange.earliest_execute_at)).where(
            PendingAdChange.status == "pending"
        )
    )


# --- audit ----------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def add_audit(
    session: Session,
    change: PendingAdChange,
    *,
    actor: str,
    action: str,
    before: Any = None,
    after: Any = None,
    response: Any = None,
    note: str | None = None,
) -> None:
    session.add(
        AdChangeAudit(
            tenant_id=change.tenant_id,
            change_id=change.id,
            actor=actor,
            action=action,
            object_id=change.object_id,
            before=_jsonable(before),
            after=_jsonable(after),
            platform_response=_jsonable(response),
            note=note[:4000] if note else None,
            at=utcnow(),
        )
    )
    session.flush()


def audit_for(session: Session, *, tenant_id: str, change_id: int) -> Sequence[AdChangeAudit]:
    return session.scalars(
        select(AdChangeAudit)
        .where(AdChangeAudit.tenant_id == tenant_id, AdChangeAudit.change_id == change_id)
        .order_by(AdChangeAudit.id)
    ).all()


# --- kill switch ----------------------------------------------------------------------
def set_kill_switch(
    session: Session, *, scope: str, engaged: bool, set_by: str, reason: str | None = None
) -> None:
    """Engage or release the kill switch of a tenant (``scope``) or of all (:data:`GLOBAL`)."""
    stmt = _insert(session)(KillSwitch).values(
        scope=scope, engaged=engaged, set_by=set_by, reason=reason, updated_at=utcnow()
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["scope"],
        set_={
            "engaged": stmt.excluded.engaged,
            "set_by": stmt.excluded.set_by,
            "reason": stmt.excluded.reason,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    session.execute(stmt)


def kill_switch_reason(session: Session, tenant_id: str) -> str | None:
    """Why the database's kill switch stops this tenant's changes now, or None."""
    row = session.scalar(
        select(KillSwitch)
        .where(KillSwitch.scope.in_((GLOBAL, tenant_id)), KillSwitch.engaged.is_(True))
        .order_by(KillSwitch.scope)  # '*' sorts first: the global one wins
        .limit(1)
    )
    if row is None:
        return None
    where = "global" if row.scope == GLOBAL else f"tenant {row.scope}"
    return f"kill switch on ({where}, by {row.set_by}{': ' + row.reason if row.reason else ''})"


def list_kill_switches(session: Session) -> Sequence[KillSwitch]:
    return session.scalars(select(KillSwitch).order_by(KillSwitch.scope)).all()
