"""Several learning cycles on the market simulator with an accelerated clock (the
simulator's): what each loop wrote, and that the cycle acts on the market through the safe
executor."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from core.db import learning as repo
from core.db.models import (
    AllocationDecision,
    ExperimentArm,
    LearningCycle,
    PendingAdChange,
    PerformanceMetric,
    Winner,
)
from core.learning.context import CycleHooks
from core.learning.cycle import STEP_NAMES
from core.settings import Settings
from tests.support.learning_world import LearningWorld


@pytest.fixture
def world(make_settings: Callable[..., Settings]) -> LearningWorld:
    return LearningWorld.build(make_settings("sqlite"), creatives=10, seed=11)


def test_cycles_on_the_simulator_learn_and_act(world: LearningWorld) -> None:
    calls: dict[str, list] = {"experiments": [], "winners": [], "changes": []}
    world.hooks = CycleHooks(
        winners_changed=lambda t, d, r: calls["winners"].append((d, r)),
        experiments_changed=lambda t, ids: calls["experiments"].append(ids),
        changes_queued=lambda t, n: calls["changes"].append(n),
    )
    executor = world.executor()
    start_budgets = world.budgets()
    statuses = []
    for _day in range(6):
        world.sim.advance(24)
        cycle_id, status = world.cycle()
        statuses.append(status)
        while executor.run_once():
            pass
    assert statuses == ["completed"] * 6, statuses

    with world.db.session() as s:
        cycles = repo.list_cycles(s, tenant_id="default", limit=10)
        assert len(cycles) == 6 and all(c.status == "completed" for c in cycles)
        last = cycles[0]
        assert [st["name"] for st in last.steps] == list(STEP_NAMES)
        steps = {st["name"]: st for st in last.steps}
        # 6: actuals fetched from the simulator into performance_metrics, one row per ad a cycle
        assert steps["actuals_fetch"]["counts"]["ads_fetched"] == 10
        n_metrics = s.scalar(select(func.count()).select_from(PerformanceMetric))
        assert n_metrics == 60
        # 2: every experiment's arms refolded from that history
        assert steps["thompson_update"]["counts"]["experiments_updated"] == 1
        arms = s.scalars(select(ExperimentArm)).all()
        assert len(arms) == 10 and all(a.trials > 0 for a in arms)
        # 3: insights stored and exposed
        ins = repo.latest_result(s, tenant_id="default", kind="insights")
        assert ins is not None and ins.cycle_id == last.cycle_id
        assert ins.payload["ads"] == 10
        # 7: decisions logged with propensities summing to 1 per cycle; changes queued & applied
        per_cycle = s.execute(
            select(AllocationDecision.cycle_id, func.sum(AllocationDecision.propensity)).group_by(
                AllocationDecision.cycle_id
            )
        ).all()
        assert len(per_cycle) == 6 and all(abs(total - 1) < 1e-6 for _, total in per_cycle)
        applied = s.scalar(
            select(func.count())
            .select_from(PendingAdChange)
            .where(
                PendingAdChange.status == "applied",
                PendingAdChange.requested_by == "learning-cycle",
            )
        )
        assert applied > 0
        labelled = s.scalar(
            select(func.count())
            .select_from(AllocationDecision)
            .where(AllocationDecision.reward.is_not(None))
        )
        assert labelled > 0  # rewards of earlier decisions filled in
        n_winners = s.scalar(select(func.count()).select_from(Winner))
    assert world.budgets() != start_budgets  # the market was acted on
    assert sum(calls["changes"]) > 0 and calls["experiments"]
    assert n_winners == 0 or calls["winners"] is not None


def test_a_failing_loop_does_not_stop_the_others(world: LearningWorld) -> None:
    world.sim.advance(30)

    def broken(ctx):  # noqa: ANN001
        raise RuntimeError("boom")

    from core.learning import cycle as cycle_mod

    loops = tuple((n, broken if n == "thompson_update" else f) for n, f in cycle_mod.LOOPS)
    cycle_id, status = world.cycle(loops=loops)
    assert status == "partial"
    with world.db.session() as s:
        row = s.get(LearningCycle, cycle_id)
        steps = {st["name"]: st for st in row.steps}
    assert steps["thompson_update"]["status"] == "failed"
    assert "boom" in steps["thompson_update"]["error"]
    assert steps["actuals_fetch"]["status"] == "completed"
    assert steps["auto_promotion"]["status"] == "completed"
