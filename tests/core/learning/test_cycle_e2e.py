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
from core.learning.config import LearningConfig
from core.learning.context import CycleHooks
from core.learning.cycle import STEP_NAMES
from core.settings import Settings
from tests.support.learning_world import LearningWorld


@pytest.fixture
def world(make_settings: Callable[..., Settings]) -> LearningWorld:
    return LearningWorld.build(make_settings("sqlite"), creatives=24, seed=11)


def test_cycles_on_the_simulator_learn_and_act(
    world: LearningWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A week of daily cycles: the market runs, the gateway logs predictions, the consumer
    indexes winners, the executor applies what the cycle queued."""
    monkeypatch.setenv("ADCLUSTER_LEARNING_ANALYTICS__CREATIVE_DNA__MIN_WINNERS", "3")
    world.config = LearningConfig.load(compound={"retrain_cooldown_h": 1000})
    calls: dict[str, list] = {"experiments": [], "winners": [], "changes": [], "training": []}
    world.hooks = CycleHooks(
        winners_changed=lambda t, d, r: calls["winners"].append((d, r)),
        experiments_changed=lambda t, ids: calls["experiments"].append(ids),
        changes_queued=lambda t, n: calls["changes"].append(n),
        start_training=lambda t, why: calls["training"].append(why) or "run-1",
    )
    executor = world.executor()
    start_budgets = world.budgets()
    results = []
    for _day in range(7):
        world.log_predictions(0.05)  # an over-confident CTR model: the ads do ~1-3 %
        world.sim.advance(24)
        cycle_id, status = world.cycle()
        with world.db.session() as s:
            results.append(
                {
                    st["name"]: st
                    for st in repo.get_cycle(s, tenant_id="default", cycle_id=cycle_id).steps
                }
            )
        assert status == "completed", results[-1]
        world.index_winners()
        while executor.run_once():
            pass
    last = results[-1]
    assert list(last) == list(STEP_NAMES)

    with world.db.session() as s:
        cycles = repo.list_cycles(s, tenant_id="default", limit=10)
        assert len(cycles) == 7 and all(c.status == "completed" for c in cycles)
        # 6: actuals fetched from the simulator, one lifetime snapshot per ad a cycle
        assert last["actuals_fetch"]["counts"]["ads_fetched"] == 24
        assert s.scalar(select(func.count()).select_from(PerformanceMetric)) == 7 * 24
        # 1: the winners the consumer indexed were re-checked on fresher metrics every cycle
        n_winners = s.scalar(select(func.count()).select_from(Winner))
        assert n_winners > 0
        assert last["winner_refresh"]["counts"]["winners_checked"] > 0
        # 2: every experiment's arms refolded from that history
        assert last["thompson_update"]["counts"]["experiments_updated"] == 1
        arms = s.scalars(select(ExperimentArm)).all()
        assert len(arms) == 24 and all(a.trials > 0 for a in arms)
        # 3 and 4: what works across creatives, and the winners' DNA, stored for this cycle
        ins = repo.latest_result(s, tenant_id="default", kind="insights")
        assert ins.cycle_id == cycles[0].cycle_id and ins.payload["ads"] == 24
        assert last["cross_learning"]["counts"]["insights"] > 0
        dna = repo.latest_result(s, tenant_id="default", kind="creative_dna")
        assert last["creative_dna"]["status"] == "completed", last["creative_dna"]
        assert last["creative_dna"]["counts"]["winners"] == n_winners
        assert dna.cycle_id == cycles[0].cycle_id and dna.payload["importances"]
        # 5: served predictions labelled by what the ads did; a poor model starts training
        compound = last["compound_learning"]
        assert compound["status"] == "completed", compound
        assert compound["counts"]["labelled"] >= 24 and compound["counts"]["accuracy"] < 0.8
        # training started once, then held by the cooldown while accuracy stays poor
        assert len(calls["training"]) == 1 and "accuracy" in calls["training"][0]
        assert compound["counts"]["training"] == "not started: cooldown"
        # 7: decisions logged (shares summing to 1 each cycle), changes queued and applied
        per_cycle = s.execute(
            select(AllocationDecision.cycle_id, func.sum(AllocationDecision.propensity)).group_by(
                AllocationDecision.cycle_id
            )
        ).all()
        assert len(per_cycle) == 7 and all(abs(total - 1) < 1e-6 for _, total in per_cycle)
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
    assert world.budgets() != start_budgets  # the market was acted on
    assert sum(calls["changes"]) > 0 and calls["experiments"]


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
