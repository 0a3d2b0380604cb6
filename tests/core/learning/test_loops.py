"""Each loop on its own, against a simulated market and a fresh database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.db import learning as repo
from core.db.ads import CreativeSpec, upsert_ad
from core.db.feedback import FeedbackRow, record_feedback
from core.db.models import (
    Ad,
    Creative,
    ExperimentArm,
    PendingAdChange,
    PendingJob,
    Winner,
)
from core.db.prediction_log import insert_rows, prediction_row
from core.learning.context import CycleHooks, Skipped
from core.learning.loops import actuals, auto_promoter, compound, thompson_update, winner_refresh
from core.settings import Settings
from tests.support.learning_world import LearningWorld


@pytest.fixture
def world(make_settings: Callable[..., Settings]) -> LearningWorld:
    return LearningWorld.build(make_settings("sqlite"), creatives=6, seed=3)


def _feedback(
    w: LearningWorld, ad_id: str, imp: int, clicks: int, spend=10.0, revenue=10.0, at=None
):
    with w.db.session() as s:
        record_feedback(
            s,
            [FeedbackRow(ad_id, imp, clicks, 1, spend, revenue, observed_at=at or w.now())],
            tenant_id=w.tenant,
            rule=w.settings.winner,
        )


# --- 1. winner refresh -----------------------------------------------------------------
def test_winner_refresh_drops_fallen_winners_and_reindexes_changed_creatives(world) -> None:
    a, b = world.ads[:2]
    world.sim.advance(30)
    for ad in (a, b):
        _feedback(world, ad, 5000, 400)  # CTR 8%: winners (trigger queues jobs)
    with world.db.session() as s:
        s.execute(PendingJob.__table__.update().values(status="done"))
        for ad in (a, b):
            s.add(
                Winner(
                    tenant_id="default",
                    ad_id=ad,
                    reason="ctr",
                    ctr=0.08,
                    roas=1.0,
                    impressions=5000,
                    vector=[0.0],
                    embedder="hash",
                )
            )
    world.sim.advance(5)
    _feedback(world, a, 20_000, 410)  # CTR fell to ~2%: no longer a winner
    with world.db.session() as s:  # b's creative changed since it was indexed
        ad_b = s.get(Ad, {"tenant_id": "default", "ad_id": b})
        s.get(Creative, {"tenant_id": "default", "creative_id": ad_b.creative_id}).hook_text = "New"
    seen = []
    world.hooks = CycleHooks(winners_changed=lambda t, d, r: seen.append((d, r)))
    counts = winner_refresh.run(world.context())
    assert counts == {"winners_checked": 2, "winners_dropped": 1, "winners_indexed": 1}
    assert seen == [([a], [b])]
    with world.db.session() as s:
        assert [w.ad_id for w in s.scalars(select(Winner))] == [b]
        job = s.scalars(select(PendingJob).where(PendingJob.status == "pending")).one()
        assert job.payload["ad_id"] == b and job.dedupe_key == f"default:{b}"
    # again: b's job is still pending, so nothing is queued twice
    assert winner_refresh.run(world.context())["winners_indexed"] == 0


# --- 2. Thompson update ----------------------------------------------------------------
def test_thompson_update_adds_new_ads_retires_paused_ones_and_decays(world) -> None:
    world.sim.advance(24)
    for ad in world.ads:
        _feedback(world, ad, 1000, 30)
    with world.db.session() as s:
        s.get(Ad, {"tenant_id": "default", "ad_id": world.ads[0]}).status = "paused"
        upsert_ad(
            s,
            tenant_id="default",
            ad_id="new-ad",
            campaign_id=world.campaign,
            ad_set_id="x",
            creative=CreativeSpec(hook_text="hi"),
        )
        from core.db.models import Experiment

        s.get(
            Experiment, {"tenant_id": "default", "experiment_id": world.experiment_id}
        ).decay_half_life_h = 24.0
    world.sim.advance(48)  # two half-lives after the last snapshot
    counts = thompson_update.run(world.context())
    assert counts == {"experiments_updated": 1, "arms_added": 1, "arms_removed": 1}
    with world.db.session() as s:
        arms = {a.ad_id: a for a in s.scalars(select(ExperimentArm))}
    assert world.ads[0] not in arms and "new-ad" in arms
    arm = arms[world.ads[1]]
    assert arm.alpha == pytest.approx(1 + 30 / 4, rel=1e-6)  # 30 clicks, decayed by 1/4
    assert arm.beta == pytest.approx(1 + 970 / 4, rel=1e-6)


# --- 5. compound learner ---------------------------------------------------------------
def _predictions(w: LearningWorld, p: float, n: int) -> None:
    insert_rows(
        w.db,
        [
            prediction_row(
                tenant_id="default",
                kind="ctr",
                ad_id=w.ads[i % len(w.ads)],
                model_version="v1",
                inputs={},
                output={"predicted_ctr": p},
                served_at=w.now(),
            )
            for i in range(n)
        ],
    )


def test_compound_learner_measures_accuracy_and_starts_training_when_poor(world) -> None:
    for ad in world.ads:
        _feedback(world, ad, 1000, 20, at=world.now())  # baseline before serving
    world.sim.advance(1)
    _predictions(world, p=0.06, n=24)  # predicted 6%, the ads will do 2%
    world.sim.advance(5)
    for ad in world.ads:
        _feedback(world, ad, 3000, 60, at=world.now())
    started = []
    world.hooks = CycleHooks(start_training=lambda t, reason: started.append(reason) or "run-1")
    counts = compound.run(world.context())
    assert counts["labelled"] == 24
    assert counts["ctr_accuracy"] == pytest.approx(0.0)  # |0.06*2000 - 40| / 40 = 2 -> 0
    assert counts["ctr_log_loss"] > 0.09 and counts["models_updated"] == 1
    assert started and "accuracy" in started[0]
    # an accurate model: no training
    started.clear()
    _predictions(world, p=0.02, n=24)
    world.sim.advance(5)
    for ad in world.ads:
        _feedback(world, ad, 5000, 100, at=world.now())
    m = compound.measure(world.context())
    assert m["labelled"] == 48


def test_compound_learner_skips_without_labels(world) -> None:
    with pytest.raises(Skipped, match="labelled predictions"):
        compound.run(world.context())


# --- 6. actuals fetcher ----------------------------------------------------------------
def test_actuals_fetcher_writes_lifetime_totals_and_skips_fresh_ads(world) -> None:
    world.sim.advance(30)
    counts = actuals.run(world.context())
    assert counts["ads_fetched"] == 6
    rows = world.sim.insights(
        world.ads, world.sim.now.date() - timedelta(days=3), world.sim.now.date()
    )
    want = sum(r.impressions for r in rows if r.ad_id == world.ads[0])
    with world.db.session() as s:
        from core.db.ads import latest_metrics

        assert latest_metrics(s, "default", world.ads[0]).impressions == want
    with pytest.raises(Skipped, match="fresh"):
        actuals.run(world.context())  # same clock: nothing is stale


# --- 7. auto-promoter ------------------------------------------------------------------
def test_auto_promoter_queues_safe_changes_and_logs_propensities(world) -> None:
    world.sim.advance(48)
    actuals.run(world.context())
    ctx = world.context()
    counts = auto_promoter.run(ctx)
    assert counts["experiments_acted"] == 1 and counts["changes_queued"] > 0
    with world.db.session() as s:
        changes = s.scalars(select(PendingAdChange)).all()
        assert all(c.requested_by == "learning-cycle" for c in changes)
        assert all(c.idempotency_key.startswith(f"cycle:{ctx.cycle_id}:") for c in changes)
        decisions = repo.decisions(s, tenant_id="default", experiment_id=world.experiment_id)
    assert sum(d.propensity for d in decisions) == pytest.approx(1.0)
    assert {d.ad_id for d in decisions} == set(world.ads)
    # the same cycle again queues nothing new (idempotency keys)
    again = auto_promoter.run(ctx)
    assert again["changes_queued"] == 0


def test_auto_promoter_without_experiments_is_skipped(world) -> None:
    with world.db.session() as s:
        from core.db.models import Experiment

        s.get(
            Experiment, {"tenant_id": "default", "experiment_id": world.experiment_id}
        ).status = "stopped"
    with pytest.raises(Skipped, match="no active experiments"):
        auto_promoter.run(world.context())


def _log(world: LearningWorld, policy: str, cycles: int) -> None:
    import numpy as np

    from core.db.models import AllocationDecision

    rng = np.random.default_rng(0)
    a, b = world.ads[:2]
    with world.db.session() as s:
        for c in range(cycles):
            for ad, mean in ((a, 3.0), (b, 0.5)):
                s.add(
                    AllocationDecision(
                        tenant_id="default",
                        cycle_id=f"c{c}",
                        experiment_id=world.experiment_id,
                        ad_id=ad,
                        policy=policy,
                        propensity=0.5,
                        reward=float(max(rng.normal(mean, 0.3), 0.0)),
                    )
                )


def test_off_policy_gate_holds_a_new_policy_that_the_log_says_is_worse(world) -> None:
    a, b = world.ads[:2]
    _log(world, "old-policy", cycles=40)
    ctx = world.context()
    assert auto_promoter.off_policy_gate(ctx, world.experiment_id, {a: 0.9, b: 0.1}) is None
    held = auto_promoter.off_policy_gate(ctx, world.experiment_id, {a: 0.1, b: 0.9})
    assert held is not None and held.startswith("refused")
    # on-policy (the logging policy itself) is never gated
    _log(world, ctx.config.auto_promoter.policy, cycles=60)
    assert auto_promoter.off_policy_gate(ctx, world.experiment_id, {a: 0.1, b: 0.9}) is None


def test_a_pause_the_executor_applies_retires_the_arm(world) -> None:
    """The executor's applied pause reaches the ad's row; the next Thompson update retires it."""
    from core.execution.service import NewChange, request_change
    from tests.support.executor_world import policy

    ad = world.ads[0]
    with world.db.session() as s:
        change = NewChange(
            "status",
            "pause-1",
            "simulator",
            world.campaign,
            "PAUSED",
            ad_set_id=world.adsets[ad],
            ad_id=ad,
        )
        request_change(s, change, tenant_id="default", requested_by="t", policy=policy())
    executor = world.executor()
    while executor.run_once():
        pass
    assert world.sim.read_state(ad).status == "PAUSED"
    with world.db.session() as s:
        assert s.get(Ad, {"tenant_id": "default", "ad_id": ad}).status == "paused"
    counts = thompson_update.run(world.context())
    assert counts["arms_removed"] == 1


def test_thompson_update_keeps_active_arms_when_holding_the_minimum(world) -> None:
    """With most arms paused, the active ones stay and paused ones make up min_arms."""
    paused = world.ads[:5]  # the one left active is not among the first arms by id order
    with world.db.session() as s:
        for ad in paused:
            s.get(Ad, {"tenant_id": "default", "ad_id": ad}).status = "paused"
    active = [a for a in world.ads if a not in paused]
    counts = thompson_update.run(world.context())
    with world.db.session() as s:
        arms = sorted(a.ad_id for a in s.scalars(select(ExperimentArm)))
    assert set(active) <= set(arms) and len(arms) == world.config.thompson_update.min_arms
    assert counts["arms_removed"] == 6 - len(arms)
