"""In-memory sampler state: registry, tenant scoping, feedback folding, decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from core.domain.sampler import (
    ExperimentNotFound,
    ExperimentSpec,
    SamplerConfig,
    SamplerState,
)
from core.domain.thompson import Snapshot, fold_all

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def state_with(*specs: ExperimentSpec) -> SamplerState:
    s = SamplerState(rng=np.random.default_rng(7))
    for spec in specs:
        s.add(spec)
    return s


def feed(s: SamplerState, ad: str, hours: float, imps: int, clicks: int, tenant: str = "t1"):
    at = T0 + timedelta(hours=hours)
    return s.observe(tenant, ad, impressions=imps, clicks=clicks, conversions=0, observed_at=at)


def test_observe_updates_every_experiment_of_the_ad() -> None:
    s = state_with(
        ExperimentSpec("e1", "t1", ("a", "b")),
        ExperimentSpec("e2", "t1", ("a", "c"), half_life_h=24.0),
        ExperimentSpec("e3", "t2", ("a", "d")),
    )
    ups = feed(s, "a", 0, 1000, 50)
    assert sorted(u.experiment_id for u in ups) == ["e1", "e2"]
    alpha, beta = s.posterior("t1", "e1")
    assert alpha.tolist() == [51, 1] and beta.tolist() == [951, 1]
    assert s.posterior("t2", "e3")[0].tolist() == [1, 1]  # other tenant's feedback


def test_incremental_feedback_equals_refold_of_history() -> None:
    s = state_with(ExperimentSpec("e", "t1", ("a", "b"), half_life_h=12.0))
    history = [(0, 100, 3), (5, 400, 20), (30, 900, 31), (31, 1500, 70)]
    for h, n, c in history:
        feed(s, "a", h, n, c)
    snaps = [Snapshot((T0 + timedelta(hours=h)).timestamp(), n, c) for h, n, c in history]
    assert s.evidence("t1", "e", "a") == fold_all(snaps, 12.0)


def test_repeated_and_out_of_order_snapshots() -> None:
    s = state_with(ExperimentSpec("e", "t1", ("a", "b")))
    feed(s, "a", 2, 500, 10)
    assert feed(s, "a", 2, 500, 10) == []  # same snapshot again: nothing to do
    (late,) = feed(s, "a", 1, 200, 4)  # older than the last one: refold from history
    assert late.evidence is None
    assert s.evidence("t1", "e", "a").last_trials == 500


def test_tenant_scoping() -> None:
    s = state_with(ExperimentSpec("e", "t1", ("a", "b")))
    with pytest.raises(ExperimentNotFound):
        s.select("t2", "e")
    with pytest.raises(ExperimentNotFound):
        s.select("t1", "missing")


def test_two_tenants_may_share_an_experiment_id() -> None:
    s = state_with(ExperimentSpec("e", "t1", ("a", "b")), ExperimentSpec("e", "t2", ("a", "c")))
    assert len(s) == 2
    feed(s, "a", 0, 1000, 50, tenant="t2")
    assert s.posterior("t1", "e")[0].tolist() == [1, 1]
    assert s.posterior("t2", "e")[0].tolist() == [51, 1]
    s.remove("t1", "e")
    assert s.spec("t2", "e").ad_ids == ("a", "c")
    with pytest.raises(ExperimentNotFound):
        s.spec("t1", "e")


def test_select_and_allocate_favour_the_better_arm() -> None:
    s = state_with(ExperimentSpec("e", "t1", ("a", "b", "c")))
    feed(s, "a", 0, 2000, 20)
    feed(s, "b", 0, 2000, 100)
    feed(s, "c", 0, 2000, 30)
    picks = s.select("t1", "e", n=500)
    assert len(picks) == 500 and picks.count("b") > 450
    alloc = s.allocate("t1", "e", total_budget=1000, min_share=0.1, max_share=0.7, n_draws=2000)
    assert alloc.ad_ids == ["a", "b", "c"]
    assert sum(alloc.amounts) == pytest.approx(1000)
    assert alloc.amounts[1] == pytest.approx(700)
    assert min(alloc.shares) >= 0.1 - 1e-9
    assert alloc.prob_best[1] > 0.9


def test_decay_pulls_stale_evidence_towards_the_prior() -> None:
    s = state_with(ExperimentSpec("e", "t1", ("a", "b"), half_life_h=24.0))
    feed(s, "a", 0, 1000, 100)
    now = (T0 + timedelta(hours=48)).timestamp()
    alpha, beta = s.posterior("t1", "e", now=now)
    assert alpha[0] == pytest.approx(1 + 25) and beta[0] == pytest.approx(1 + 225)


def test_remove_and_replace() -> None:
    s = state_with(ExperimentSpec("e", "t1", ("a", "b")))
    s.add(ExperimentSpec("e", "t1", ("b", "c")))
    assert s.experiments_of("t1", "a") == [] and s.experiments_of("t1", "c") == ["e"]
    s.remove("t1", "e")
    assert len(s) == 0 and s.experiments_of("t1", "b") == []


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"ad_ids": ()}, "at least one"),
        ({"ad_ids": ("a", "a")}, "unique"),
        ({"metric": "cpc"}, "metric"),
        ({"prior_alpha": 0}, "prior"),
        ({"half_life_h": 0}, "half_life"),
    ],
)
def test_invalid_spec(kw: dict, match: str) -> None:
    args = {"experiment_id": "e", "tenant_id": "t", "ad_ids": ("a", "b")} | kw
    with pytest.raises(ValueError, match=match):
        ExperimentSpec(**args)


def test_config_loads(tmp_path: Path) -> None:
    cfg = SamplerConfig.load()
    assert cfg.limits.max_arms >= 1000 and cfg.defaults.metric == "ctr"
    path = tmp_path / "sampler.yaml"
    path.write_text(
        "defaults: {metric: ctr, prior_alpha: 1, prior_beta: 1, half_life_h: null,"
        " min_share: 0.5, max_share: 0.2}\n"
        "limits: {max_arms: 1, max_select_batch: 1, allocation_draws: 1, history_events: 1}\n"
        "seed: null\n"
    )
    with pytest.raises(ValueError, match="min_share"):
        SamplerConfig.load(path)
