"""Learning cycles in the database (SQLite and PostgreSQL): one running cycle per tenant,
abandoned cycles closed, a persisted schedule that neither skips nor doubles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from core.db import learning as repo
from core.db.engine import Database
from core.db.models import LearningCycle

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_one_running_cycle_per_tenant(db: Database) -> None:
    with db.session() as s:
        first = repo.start_cycle(s, tenant_id="a", trigger="api", owner="o1", now=T0).cycle_id
    with db.session() as s, pytest.raises(repo.CycleRunning) as err:
        repo.start_cycle(s, tenant_id="a", trigger="api", owner="o2", now=T0)
    assert err.value.cycle_id == first
    with db.session() as s:  # another tenant is independent
        repo.start_cycle(s, tenant_id="b", trigger="api", owner="o1", now=T0)


def test_the_database_refuses_a_second_running_row(db: Database) -> None:
    """The guarantee holds even for a writer that skips the check (the partial index)."""
    with db.session() as s:
        s.add(LearningCycle(cycle_id="c1", tenant_id="a", trigger="x", status="running", steps=[]))
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(LearningCycle(cycle_id="c2", tenant_id="a", trigger="x", status="running", steps=[]))
        s.flush()
    with db.session() as s:  # finished ones do not count
        s.add(LearningCycle(cycle_id="c3", tenant_id="a", trigger="x", status="failed", steps=[]))


def test_finish_and_abandoned_cycles(db: Database) -> None:
    with db.session() as s:
        c1 = repo.start_cycle(s, tenant_id="a", trigger="api", owner="o1", now=T0).cycle_id
        c2 = repo.start_cycle(s, tenant_id="b", trigger="api", owner="o2", now=T0).cycle_id
    with db.session() as s:  # not the owner: refused
        assert not repo.finish_cycle(
            s, c1, owner="o2", status="completed", steps=[], error=None, now=T0
        )
    later = T0 + timedelta(seconds=600)
    with db.session() as s:
        repo.heartbeat(s, owner="o2", now=later)
        failed = repo.fail_abandoned(s, now=later, stale_after_s=300, reason="gone")
        assert [r.cycle_id for r in failed] == [c1]
    with db.session() as s:
        assert repo.get_cycle(s, tenant_id="a", cycle_id=c1).status == "failed"
        assert repo.get_cycle(s, tenant_id="b", cycle_id=c1) is None  # tenant-scoped
        assert repo.running_cycle(s, "b").cycle_id == c2
        assert repo.finish_cycle(
            s, c2, owner="o2", status="partial", steps=[{"name": "x"}], error="e", now=later
        )
    with db.session() as s:
        row = repo.latest_cycle(s, tenant_id="b")
        assert row.status == "partial" and row.duration_s == 600.0


def test_schedule_neither_skips_nor_doubles(db: Database) -> None:
    with db.session() as s:
        assert repo.due_tenants(s, tenant_ids=["a"], now=T0, first_delay_s=60) == []
        assert repo.next_due(s, "a") == T0 + timedelta(seconds=60)
    t = T0 + timedelta(seconds=61)
    with db.session() as s:
        [(tenant, due)] = repo.due_tenants(s, tenant_ids=["a"], now=t, first_delay_s=60)
        nxt = repo.advance_schedule(
            s, tenant_id=tenant, due_at=due, interval_s=3600, now=t, cycle_id="c1"
        )
    assert nxt == T0 + timedelta(seconds=3660)  # one interval after the due time, not after now
    with db.session() as s:  # asked again at once: nothing due (no double)
        assert repo.due_tenants(s, tenant_ids=["a"], now=t, first_delay_s=60) == []
    away = T0 + timedelta(hours=5)  # the orchestrator was down for hours: one cycle, not five
    with db.session() as s:
        [(_, due)] = repo.due_tenants(s, tenant_ids=["a"], now=away, first_delay_s=60)
        nxt = repo.advance_schedule(
            s, tenant_id="a", due_at=due, interval_s=3600, now=away, cycle_id=None
        )
    assert nxt == away + timedelta(hours=1)
    with db.session() as s:
        repo.reschedule_now(s, tenant_id="a", now=away)
        assert repo.due_tenants(s, tenant_ids=["a"], now=away, first_delay_s=60) == [("a", away)]
