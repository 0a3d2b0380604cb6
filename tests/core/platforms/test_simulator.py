"""The market simulator: deterministic, learnable, concave in budget, same rows as Meta."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from core.platforms.base import (
    AdSpec,
    BudgetChange,
    NotFoundError,
    StatusChange,
    parse_insight,
)
from core.platforms.simulator import MarketSimulator

FEATURES = ("hook_motion", "brightness_mean", "cut_rate", "has_audio")


def market(seed: int | None = None) -> MarketSimulator:
    return MarketSimulator.from_config(seed=seed)


def spec(adset: str, key: str, features: dict[str, float], status: str = "ACTIVE") -> AdSpec:
    return AdSpec(adset, "/media/a.mp4", key, key, status=status, features=features)


def run_campaign(sim: MarketSimulator, hours: int = 72) -> list:
    c = sim.create_campaign()
    a = sim.create_adset(c, 50_00)
    ads = [
        sim.create_ad(spec(a, f"k{i}", {f: (i + j) % 3 / 2 for j, f in enumerate(FEATURES)}))
        for i in range(3)
    ]
    sim.advance(hours)
    return sim.insights([p.ad_id for p in ads], date(2025, 1, 1), date(2025, 12, 31))


def test_same_seed_same_market_and_other_seed_differs():
    assert run_campaign(market(3)) == run_campaign(market(3))
    assert run_campaign(market(3)) != run_campaign(market(4))


def test_better_features_mean_higher_true_ctr():
    sim = market()
    weights = sim.feature_weights(FEATURES)
    mid = {f: 0.5 for f in FEATURES}
    better = {f: 0.5 + 0.4 * np.sign(weights[f][0]) for f in FEATURES}
    worse = {f: 0.5 - 0.4 * np.sign(weights[f][0]) for f in FEATURES}
    ctr = [sim.true_rates(x).ctr for x in (worse, mid, better)]
    assert ctr[0] < ctr[1] < ctr[2]
    assert ctr[2] / ctr[0] > 1.5  # a difference a learner can find
    assert sim.true_rates(mid).ctr == pytest.approx(sim.config.base_ctr, rel=0.2)


def test_realized_ctr_converges_to_the_truth_with_volume():
    cfg = MarketSimulator.from_config().config.model_copy(update={"fatigue_floor": 1.0})
    sim = MarketSimulator(cfg)  # no fatigue: the truth stands still
    a = sim.create_adset(sim.create_campaign(), 500_00)
    ad = sim.create_ad(spec(a, "k", {f: 0.7 for f in FEATURES})).ad_id
    p = sim.oracle(ad).ctr
    errors = []
    for _ in range(4):
        sim.advance(12)
        rows = sim.insights([ad], date(2025, 1, 1), date(2025, 12, 31))
        n, clicks = sum(r.impressions for r in rows), sum(r.clicks for r in rows)
        assert abs(clicks / n - p) < 4 * (p * (1 - p) / n) ** 0.5  # binomial noise only
        errors.append(abs(clicks / n - p) / p)
    assert errors[-1] < 0.02


def test_fatigue_lowers_realized_ctr_over_time():
    sim = market()
    a = sim.create_adset(sim.create_campaign(), 2000_00)
    ad = sim.create_ad(spec(a, "k", {})).ad_id
    sim.advance(96)
    rows = sim.insights([ad], date(2025, 1, 1), date(2025, 12, 31))
    first, last = rows[0].clicks / rows[0].impressions, rows[-1].clicks / rows[-1].impressions
    assert last < 0.85 * first
    assert last > sim.config.fatigue_floor * sim.oracle(ad).ctr * 0.9


def test_budget_to_impressions_is_concave_and_increasing():
    sim = market()
    budgets = np.arange(1, 40) * 50_00
    imps = np.array([sim.expected_daily_impressions(int(b)) for b in budgets])
    assert np.all(np.diff(imps) > 0)
    assert np.all(np.diff(imps, 2) < 0)
    cpm = [b / 100 / i * 1000 for b, i in zip(budgets, imps, strict=True)]
    assert cpm[0] == pytest.approx(sim.config.cpm, rel=0.05) and cpm[-1] > cpm[0]


def test_insights_have_metas_shape_and_follow_changes():
    sim = market()
    c = sim.create_campaign()
    a = sim.create_adset(c, 100_00)
    ad = sim.create_ad(spec(a, "k1", {"hook_motion": 0.9}))
    assert sim.read_state(ad.ad_id).status == "ACTIVE"
    sim.advance(24)
    rows = sim.insights_rows([ad.ad_id], date(2025, 1, 1), date(2025, 12, 31))
    assert set(rows[0]) == {
        "ad_id",
        "date_start",
        "date_stop",
        "impressions",
        "clicks",
        "spend",
        "actions",
        "action_values",
    }
    day = parse_insight(rows[0])
    assert day.spend == pytest.approx(100.0, abs=0.01) and day.impressions > 1000
    sim.set_budget(BudgetChange(a, 200_00, "b1"))
    assert sim.read_state(a).daily_budget_minor == 200_00
    sim.set_status(StatusChange(ad.ad_id, "PAUSED", "s1"))
    sim.advance(48)
    rows = sim.insights([ad.ad_id], date(2025, 1, 1), date(2025, 12, 31))
    assert len(rows) == 1  # paused: no delivery, and Meta omits empty days


def test_publish_is_once_per_idempotency_key_and_paused_by_default():
    sim = market()
    a = sim.create_adset(sim.create_campaign(), 10_00)
    s = AdSpec(a, "/media/a.mp4", "ad", "pub-1")
    first, again = sim.create_ad(s), sim.create_ad(s)
    assert first.created and not again.created and again.ad_id == first.ad_id
    assert first.status == "PAUSED" and sim.read_state(first.ad_id).status == "PAUSED"
    sim.advance(5)
    assert sim.insights([first.ad_id], date(2025, 1, 1), date(2025, 12, 31)) == []


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda s: s.advance(-1), ValueError, "hours must be an int >= 0"),
        (lambda s: s.advance(1.5), ValueError, "hours must be an int >= 0"),
        (lambda s: s.read_state("sim-as-99"), NotFoundError, "no object sim-as-99"),
        (lambda s: s.set_budget(BudgetChange("x", 100, "k")), NotFoundError, "no ad set x"),
        (lambda s: s.create_adset("nope", 100), NotFoundError, "no campaign nope"),
        (lambda s: BudgetChange("x", 0, "k"), ValueError, "daily_budget_minor must be a positive"),
        (lambda s: StatusChange("x", "on", "k"), ValueError, "status must be one of"),
        (lambda s: BudgetChange("x", 100, "bad key!"), ValueError, "idempotency_key must be"),
        (lambda s: AdSpec("a", "v", "n", "k", status="DELETED"), ValueError, "ACTIVE or PAUSED"),
    ],
)
def test_bad_calls_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call(market())
