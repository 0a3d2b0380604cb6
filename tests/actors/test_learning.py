"""The LearningOrchestrator's own logic (as a plain object: its cycles, schedule and
recovery; the Ray shell is exercised in tests/serve_apps/test_learning_http.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from actors.learning import INTERRUPTED, LearningOrchestrator
from core.db import learning as repo
from core.db.engine import Database
from core.db.models import utcnow
from core.settings import Settings


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings("sqlite")


@pytest.fixture
def orchestrator(settings: Settings) -> Iterator[LearningOrchestrator]:
    o = LearningOrchestrator(settings.to_overrides(), autostart=False)
    yield o
    o.stop()


def test_run_now_runs_the_seven_loops(orchestrator: LearningOrchestrator) -> None:
    result = orchestrator.run_now("default")
    assert result["status"] == "completed" and len(result["steps"]) == 7
    assert result["trigger"] == "job"
    latest = orchestrator.cycle("default", result["cycle_id"])
    assert latest == result


def test_a_restarted_orchestrator_closes_the_interrupted_cycle_and_reruns_it(
    settings: Settings,
) -> None:
    db = Database(settings.db_url)
    now = utcnow()
    with db.session() as s:  # an earlier instance died while running a scheduled cycle
        repo.due_tenants(s, tenant_ids=["default"], now=now, first_delay_s=0)
        repo.advance_schedule(
            s, tenant_id="default", due_at=now, interval_s=3600, now=now, cycle_id=None
        )
        dead = repo.start_cycle(s, tenant_id="default", trigger="schedule", owner="dead").cycle_id
    o = LearningOrchestrator(settings.to_overrides(), autostart=False)
    try:
        assert o.recovered == [dead]
        with db.session() as s:
            row = repo.get_cycle(s, tenant_id="default", cycle_id=dead)
            assert row.status == "failed" and row.error == INTERRUPTED
            assert repo.next_due(s, "default") <= utcnow()  # due again: not skipped
        started = o.tick()
        assert len(started) == 1  # one cycle, not two
        assert o.tick() == []  # the slot is taken: not doubled
        o._pool.submit(lambda: None).result()
        with db.session() as s:
            assert repo.get_cycle(s, tenant_id="default", cycle_id=started[0]).status == "completed"
            assert repo.next_due(s, "default") > utcnow() + timedelta(minutes=50)
    finally:
        o.stop()
        db.dispose()


def test_a_second_start_while_running_returns_the_running_id(
    settings: Settings, orchestrator: LearningOrchestrator
) -> None:
    db = Database(settings.db_url)
    with db.session() as s:
        running = repo.start_cycle(
            s, tenant_id="default", trigger="api", owner=orchestrator.owner
        ).cycle_id
    assert orchestrator.start_cycle("default") == {"cycle_id": running, "started": False}
    assert orchestrator.start_cycle("other")["started"] is True
    db.dispose()
