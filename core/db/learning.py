"""Learning cycles, their schedule, what the loops learned and the logged allocation decisions.

One ``running`` cycle per tenant is a database guarantee (a partial unique index): a second
start raises :class:`CycleRunning` with the running cycle's id, whichever process asks.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db.models import (
    AllocationDecision,
    LearningCycle,
    LearningResult,
    LearningSchedule,
    Tenant,
    utcnow,
)

FINAL = ("completed", "partial", "failed")


class CycleRunning(RuntimeError):
    """The tenant already has a running cycle (``cycle_id``)."""

    def __init__(self, cycle_id: str) -> None:
        super().__init__(f"a learning cycle is already running: {cycle_id}")
        self.cycle_id = cycle_id


def running_cycle(session: Session, tenant_id: str) -> LearningCycle | None:
    stmt = select(LearningCycle).where(
        LearningCycle.tenant_id == tenant_id, LearningCycle.status == "running"
    )
    return session.scalars(stmt).first()


def start_cycle(
    session: Session,
    *,
    tenant_id: str,
    trigger: str,
    owner: str,
    requested_by: str | None = None,
    now: datetime | None = None,
) -> LearningCycle:
    """Insert a ``running`` cycle, or raise :class:`CycleRunning`."""
    existing = running_cycle(session, tenant_id)
    if existing is not None:
        raise CycleRunning(existing.cycle_id)
    now = now or utcnow()
    row = LearningCycle(
        cycle_id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        trigger=trigger,
        requested_by=requested_by,
        status="running",
        steps=[],
        owner=owner,
        started_at=now,
        heartbeat_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # a concurrent start won the race
        other = running_cycle(session, tenant_id)
        raise CycleRunning(other.cycle_id if other else "unknown") from None
    return row


def record_steps(
    session: Session, cycle_id: str, *, owner: str, steps: list[dict[str, Any]], now: datetime
) -> bool:
    """Progress of a running cycle (also its heartbeat); False when it is no longer ours."""
    res = session.execute(
        update(LearningCycle)
        .where(
            LearningCycle.cycle_id == cycle_id,
            LearningCycle.owner == owner,
            LearningCycle.status == "running",
        )
        .values(steps=steps, heartbeat_at=now)
    )
    return bool(res.rowcount)


def heartbeat(session: Session, *, owner: str, now: datetime | None = None) -> int:
    """Every running cycle of ``owner`` is alive now."""
    res = session.execute(
        update(LearningCycle)
        .where(LearningCycle.owner == owner, LearningCycle.status == "running")
        .values(heartbeat_at=now or utcnow())
    )
    return int(res.rowcount or 0)


def finish_cycle(
    session: Session,
    cycle_id: str,
    *,
    owner: str,
    status: str,
    steps: list[dict[str, Any]],
    error: str | None,
    now: datetime,
) -> bool:
    if status not in FINAL:
        raise ValueError(f"status must be one of {', '.join(FINAL)}")
    row = session.get(LearningCycle, cycle_id, with_for_update=True)
    if row is None or row.owner != owner or row.status != "running":
        return False
    row.status, row.steps, row.error = status, steps, error
    row.completed_at = now
    row.duration_s = round((now - row.started_at).total_seconds(), 3)
    return True


def fail_abandoned(
    session: Session,
    *,
    now: datetime,
    stale_after_s: float | None = None,
    not_owner: str | None = None,
    reason: str,
) -> list[LearningCycle]:
    """Close as ``failed`` the running cycles whose heartbeat is older than
    ``stale_after_s`` or (``not_owner``) that belong to another orchestrator instance."""
    stmt = select(LearningCycle).where(LearningCycle.status == "running").with_for_update()
    out = []
    for row in session.scalars(stmt):
        stale = stale_after_s is not None and (
            (now - row.heartbeat_at).total_seconds() > stale_after_s
        )
        if stale or (not_owner is not None and row.owner != not_owner):
            row.status, row.error, row.completed_at = "failed", reason, now
            row.duration_s = round((now - row.started_at).total_seconds(), 3)
            out.append(row)
    return out


def get_cycle(session: Session, *, tenant_id: str, cycle_id: str) -> LearningCycle | None:
    row = session.get(LearningCycle, cycle_id)
    return row if row is not None and row.tenant_id == tenant_id else None


def latest_cycle(session: Session, *, tenant_id: str) -> LearningCycle | None:
    rows = list_cycles(session, tenant_id=tenant_id, limit=1)
    return rows[0] if rows else None


def list_cycles(session: Session, *, tenant_id: str, limit: int) -> list[LearningCycle]:
    """The tenant's newest cycles first."""
    stmt = (
        select(LearningCycle)
        .where(LearningCycle.tenant_id == tenant_id)
        .order_by(LearningCycle.started_at.desc(), LearningCycle.cycle_id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


# --- schedule ---------------------------------------------------------------------------
def tenants(session: Session, default_tenant: str) -> list[str]:
    """Every tenant the schedule covers (the ``tenants`` table and the embedded default)."""
    found = set(session.scalars(select(Tenant.tenant_id)))
    return sorted(found | {default_tenant})


def due_tenants(
    session: Session, *, tenant_ids: Sequence[str], now: datetime, first_delay_s: float
) -> list[tuple[str, datetime]]:
    """(tenant, due time) of each tenant whose next cycle is due; a tenant without a schedule
    row gets one, first due ``first_delay_s`` from now."""
    rows = {r.tenant_id: r for r in session.scalars(select(LearningSchedule))}
    due = []
    for t in tenant_ids:
        row = rows.get(t)
        if row is None:
            first = now + timedelta(seconds=first_delay_s)
            session.add(LearningSchedule(tenant_id=t, next_due_at=first, updated_at=now))
            if first_delay_s <= 0:
                due.append((t, first))
        elif row.next_due_at <= now:
            due.append((t, row.next_due_at))
    session.flush()
    return due


def advance_schedule(
    session: Session,
    *,
    tenant_id: str,
    due_at: datetime,
    interval_s: float,
    now: datetime,
    cycle_id: str | None,
) -> datetime:
    """Move the tenant's next due time one interval past ``due_at`` (or past now when the
    orchestrator was away longer: missed slots are not run twice). Returns it."""
    step = timedelta(seconds=interval_s)
    nxt = due_at + step
    if nxt <= now:
        nxt = now + step
    row = session.get(LearningSchedule, tenant_id, with_for_update=True)
    if row is None:
        row = LearningSchedule(tenant_id=tenant_id, next_due_at=nxt)
        session.add(row)
    row.next_due_at, row.updated_at = nxt, now
    if cycle_id is not None:
        row.last_cycle_id = cycle_id
    return nxt


def reschedule_now(session: Session, *, tenant_id: str, now: datetime) -> None:
    """Make the tenant's next cycle due now (its scheduled cycle was interrupted)."""
    row = session.get(LearningSchedule, tenant_id)
    if row is not None:
        row.next_due_at, row.updated_at = now, now


def next_due(session: Session, tenant_id: str) -> datetime | None:
    row = session.get(LearningSchedule, tenant_id)
    return None if row is None else row.next_due_at


# --- results ----------------------------------------------------------------------------
def save_result(
    session: Session,
    *,
    tenant_id: str,
    cycle_id: str,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    session.add(
        LearningResult(
            tenant_id=tenant_id, cycle_id=cycle_id, kind=kind, payload=payload, created_at=now
        )
    )


def latest_result(session: Session, *, tenant_id: str, kind: str) -> LearningResult | None:
    stmt = (
        select(LearningResult)
        .where(LearningResult.tenant_id == tenant_id, LearningResult.kind == kind)
        .order_by(LearningResult.created_at.desc(), LearningResult.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


# --- logged decisions (off-policy evaluation) ------------------------------------------
def log_decisions(
    session: Session,
    *,
    tenant_id: str,
    cycle_id: str,
    experiment_id: str,
    policy: str,
    shares: dict[str, float],
    now: datetime,
) -> None:
    session.add_all(
        AllocationDecision(
            tenant_id=tenant_id,
            cycle_id=cycle_id,
            experiment_id=experiment_id,
            ad_id=ad_id,
            policy=policy,
            propensity=float(p),
            decided_at=now,
        )
        for ad_id, p in shares.items()
    )


def decisions(
    session: Session, *, tenant_id: str, experiment_id: str, labelled: bool | None = None
) -> list[AllocationDecision]:
    stmt = select(AllocationDecision).where(
        AllocationDecision.tenant_id == tenant_id,
        AllocationDecision.experiment_id == experiment_id,
    )
    if labelled is True:
        stmt = stmt.where(AllocationDecision.reward.is_not(None))
    elif labelled is False:
        stmt = stmt.where(AllocationDecision.reward.is_(None))
    return list(
        session.scalars(stmt.order_by(AllocationDecision.decided_at, AllocationDecision.id))
    )
