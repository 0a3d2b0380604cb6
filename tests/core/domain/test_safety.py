"""The executor's safety policy (SPEC §3.5): caps, clamping, kill switches, dry run."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import ConfigError
from core.domain.safety import (
    AppliedChange,
    BudgetState,
    ProposedChange,
    SafetyConfig,
    SafetyPolicy,
    Verdict,
    load_policy,
)

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)


def policy(**overrides: Any) -> SafetyPolicy:
    return SafetyPolicy(SafetyConfig.load().model_copy(update=overrides))


def budget_change(new: int, at: datetime = T0, obj: str = "as1", **kw: Any) -> ProposedChange:
    base = dict(tenant_id="default", account_id="act_1", campaign_id="c1", object_id=obj)
    base.update(kw)
    return ProposedChange(kind="budget", at=at, new_budget_minor=new, **base)


def applied(old: int, new: int, at: datetime, obj: str = "as1", campaign: str = "c1"):
    return AppliedChange("default", "act_1", campaign, obj, "budget", at, old, new)


def test_shipped_config_loads_with_dry_run_on_by_default():
    p = load_policy()
    assert p.dry_run("default") is True and p.dry_run("someone-else") is True
    assert p.config.max_change_pct == 0.20 and p.config.max_actions_per_campaign == 15
    d = p.evaluate(budget_change(1100), history=[], budget=BudgetState(1000, 1000))
    assert d.verdict is Verdict.ALLOW and d.dry_run and d.budget_minor == 1100


def test_env_override_and_tenant_dry_run(monkeypatch):
    monkeypatch.setenv("ADCLUSTER_SAFETY__DRY_RUN", "false")
    monkeypatch.setenv("ADCLUSTER_SAFETY__TENANTS__DEFAULT__DRY_RUN", "true")
    p = load_policy()
    assert p.dry_run("other") is False and p.dry_run("default") is True


def test_over_cap_increase_is_clamped_to_the_per_action_cap():
    d = policy().evaluate(budget_change(1500), history=[], budget=BudgetState(1000, 1000))
    assert d.verdict is Verdict.CLAMP and d.budget_minor == 1200
    assert "max change per action ±20%" in d.reason and "clamped to 1200" in d.reason


def test_over_cap_in_reject_mode_names_the_cap_and_the_allowed_range():
    d = policy(over_cap="reject").evaluate(
        budget_change(500), history=[], budget=BudgetState(1000, 1000)
    )
    assert d.verdict is Verdict.REJECT and not d.allowed and d.budget_minor is None
    assert "1000 -> 500 (-50.0%)" in d.reason and "allowed 800..1200" in d.reason


def test_velocity_window_stops_small_steps_adding_up_and_frees_after_the_window():
    p = policy()
    hist = [applied(1000, 1200, T0)]
    later = T0 + timedelta(hours=2)
    d = p.evaluate(budget_change(1400, later), history=hist, budget=BudgetState(1200, 1200))
    assert d.verdict is Verdict.REJECT and "max velocity ±20% over 6 h" in d.reason
    assert d.retry_after_s == pytest.approx(4 * 3600)
    free = T0 + timedelta(hours=6, seconds=1)
    d = p.evaluate(budget_change(1400, free), history=hist, budget=BudgetState(1200, 1200))
    assert d.verdict is Verdict.ALLOW and d.budget_minor == 1400


def test_velocity_clamps_a_decrease_against_the_highest_budget_in_the_window():
    hist = [applied(1000, 1200, T0)]
    d = policy().evaluate(
        budget_change(900, T0 + timedelta(hours=1)), history=hist, budget=BudgetState(1200, 1200)
    )
    assert d.verdict is Verdict.CLAMP and d.budget_minor == 960  # 0.8 * 1200


def test_campaign_action_limit_counts_every_kind_and_says_when_it_frees():
    p = policy()
    hist = [
        AppliedChange("default", "act_1", "c1", f"ad{i}", "status", T0 + timedelta(minutes=i))
        for i in range(15)
    ]
    at = T0 + timedelta(minutes=30)
    status = ProposedChange("default", "act_1", "c1", "ad99", "status", at, new_status="PAUSED")
    d = p.evaluate(status, history=hist)
    assert d.verdict is Verdict.REJECT and "15 actions in the last 1 h (max 15)" in d.reason
    assert d.retry_after_s == pytest.approx(30 * 60)
    other = ProposedChange("default", "act_1", "c2", "ad99", "status", at, new_status="PAUSED")
    assert p.evaluate(other, history=hist).verdict is Verdict.ALLOW
    # Another tenant's history is not this tenant's.
    mine = ProposedChange("t2", "act_1", "c1", "ad99", "status", at, new_status="PAUSED")
    assert p.evaluate(mine, history=hist).verdict is Verdict.ALLOW


@pytest.mark.parametrize(
    ("overrides", "runtime", "reason"),
    [
        ({"kill_switch": True}, False, "kill switch on (global)"),
        ({}, True, "kill switch on"),
        ("tenant", False, "kill switch on (tenant default)"),
    ],
)
def test_kill_switch_rejects_everything(overrides, runtime, reason):
    if overrides == "tenant":
        cfg = SafetyConfig.load()
        t = cfg.tenants["default"].model_copy(update={"kill_switch": True})
        p = SafetyPolicy(cfg.model_copy(update={"tenants": {"default": t}}))
    else:
        p = policy(**overrides)
    ad = ProposedChange("default", "act_1", "c1", "as1", "create_ad", T0)
    for change, budget in [(ad, None), (budget_change(1100), BudgetState(1000, 1000))]:
        d = p.evaluate(change, history=[], budget=budget, kill_switch=runtime)
        assert d.verdict is Verdict.REJECT and d.reason == reason


def test_minimum_budget_and_account_ceiling():
    cfg = SafetyConfig.load()
    t = cfg.tenants["default"].model_copy(update={"daily_ceiling_minor": {"act_1": 5000}})
    p = SafetyPolicy(cfg.model_copy(update={"tenants": {"default": t}, "min_budget_minor": 900}))
    d = p.evaluate(budget_change(850), history=[], budget=BudgetState(1000, 3000))
    assert d.verdict is Verdict.CLAMP and d.budget_minor == 900
    d = p.evaluate(budget_change(1200), history=[], budget=BudgetState(1000, 4900))
    assert d.verdict is Verdict.CLAMP and d.budget_minor == 1100
    assert "account daily ceiling 5000" in d.reason
    d = p.evaluate(budget_change(1100), history=[], budget=BudgetState(1000, 5000))
    assert d.verdict is Verdict.REJECT and "account daily ceiling 5000" in d.reason
    # Below the minimum already: a further cut has nowhere to go.
    d = p.evaluate(budget_change(850), history=[], budget=BudgetState(880, 880))
    assert d.verdict is Verdict.REJECT and "minimum budget" in d.reason


def test_no_op_is_rejected_with_a_reason():
    d = policy().evaluate(budget_change(1000), history=[], budget=BudgetState(1000, 1000))
    assert d.verdict is Verdict.REJECT and d.reason == "no change: budget is already 1000"


def test_delay_and_jitter_are_seeded_and_bounded():
    p = policy(budget_jitter=True)
    times = [p.execute_at(T0, random.Random(s)) for s in range(200)]
    assert times == [p.execute_at(T0, random.Random(s)) for s in range(200)]
    delays = [(t - T0).total_seconds() for t in times]
    assert 3 <= min(delays) < 4 and 17 < max(delays) <= 18
    budgets = [p.jitter_budget(10_000, random.Random(s)) for s in range(200)]
    assert 9700 <= min(budgets) < 9800 and 10_200 < max(budgets) <= 10_300
    assert policy().jitter_budget(10_000, random.Random(1)) == 10_000  # off by default


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"new_budget_minor": 10.5}, TypeError, "new_budget_minor must be an int of minor"),
        ({"new_budget_minor": True}, TypeError, "new_budget_minor must be an int of minor"),
        ({"new_budget_minor": 0}, ValueError, "new_budget_minor must be > 0"),
        ({"new_budget_minor": None}, TypeError, "new_budget_minor must be an int"),
        ({"kind": "bid"}, ValueError, "kind must be one of budget, status, create_ad"),
        ({"at": datetime(2025, 1, 1)}, ValueError, "at must be timezone-aware"),
        ({"at": "2025-01-01"}, TypeError, "at must be a datetime"),
        ({"object_id": ""}, ValueError, "object_id must be a non-empty string"),
        (
            {"kind": "status", "new_budget_minor": None, "new_status": "on"},
            ValueError,
            "new_status must be one of ACTIVE, PAUSED, ARCHIVED",
        ),
        (
            {"kind": "status", "new_status": "PAUSED"},
            ValueError,
            "new_budget_minor is only for budget changes",
        ),
        ({"new_status": "PAUSED"}, ValueError, "new_status is only for status changes"),
    ],
)
def test_bad_changes_are_refused(kwargs, error, match):
    base: dict[str, Any] = dict(
        tenant_id="default",
        account_id="act_1",
        campaign_id="c1",
        object_id="as1",
        kind="budget",
        at=T0,
        new_budget_minor=1000,
    )
    with pytest.raises(error, match=match):
        ProposedChange(**{**base, **kwargs})


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda p: BudgetState(0, 10), ValueError, "current_minor must be > 0"),
        (lambda p: BudgetState(100, 50), ValueError, "account_total_minor must include"),
        (lambda p: p.evaluate(budget_change(900), history=[]), ValueError, "needs the current"),
        (lambda p: p.evaluate({"kind": "budget"}, history=[]), TypeError, "must be a Proposed"),
        (lambda p: p.execute_at(datetime(2025, 1, 1), random.Random()), ValueError, "aware"),
        (lambda p: applied(0, 100, T0), ValueError, "old_budget_minor must be > 0"),
    ],
)
def test_bad_inputs_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call(policy())


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"max_change_pct": 1.5}, "max_change_pct"),
        ({"over_cap": "warn"}, "over_cap"),
        ({"delay_min_s": 20.0}, "need delay_min_s <= delay_max_s"),
        (
            {
                "tenants": {
                    "default": {
                        "kill_switch": False,
                        "dry_run": None,
                        "daily_ceiling_minor": {"act_1": 0},
                    }
                }
            },
            "must be >= 1",
        ),
        ({"surprise": 1}, "unknown key"),
    ],
)
def test_bad_config_is_refused(override, match):
    from core.config import load_config

    with pytest.raises(ConfigError, match=match):
        load_config("safety.yaml", SafetyConfig, overrides=override)


# --- property: nothing the policy lets through breaks a cap ---------------------------

ADSETS = {
    "as1": ("act_1", "c1"),
    "as2": ("act_1", "c1"),
    "as3": ("act_1", "c2"),
    "as4": ("act_2", "c3"),
}
CEILING = 6000


@dataclass
class Event:
    at: datetime
    obj: str
    kind: str
    old: int | None
    new: int | None
    killed: bool


step = st.tuples(
    st.one_of(st.sampled_from([0, 30, 120, 600]), st.integers(0, 3 * 3600)),  # s since the last
    st.sampled_from(sorted(ADSETS)),
    st.sampled_from(["budget", "budget", "status", "create_ad"]),
    st.floats(-0.7, 1.0),  # requested relative budget change
    st.integers(0, 9),  # 0: flip the runtime kill switch
)


def check_caps(p: SafetyPolicy, events: list[Event], start: dict[str, int]) -> None:
    cfg = p.config
    allowed = [e for e in events if e.kind != "rejected"]
    assert all(not e.killed for e in allowed)
    budgets = dict(start)
    for e in allowed:
        if e.kind == "budget":
            assert e.old == budgets[e.obj]
            budgets[e.obj] = e.new
            assert e.new >= cfg.min_budget_minor
            assert abs(e.new - e.old) <= Fraction(str(cfg.max_change_pct)) * e.old
            for acct in {"act_1", "act_2"}:
                assert sum(b for o, b in budgets.items() if ADSETS[o][0] == acct) <= CEILING
    vw, q = timedelta(hours=cfg.velocity_window_h), Fraction(str(cfg.max_velocity_pct))
    aw = timedelta(hours=cfg.action_window_h)
    for j, b in enumerate(allowed):
        recent = [
            a for a in allowed[: j + 1] if ADSETS[a.obj][1] == ADSETS[b.obj][1] and a.at > b.at - aw
        ]
        assert len(recent) <= cfg.max_actions_per_campaign
        if b.kind != "budget":
            continue
        for a in allowed[:j]:
            if a.kind == "budget" and a.obj == b.obj and a.at > b.at - vw:
                for earlier in (a.old, a.new):
                    assert abs(b.new - earlier) <= q * earlier


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(step, min_size=20, max_size=80), mode=st.sampled_from(["clamp", "reject"]))
def test_no_allowed_change_breaks_a_cap(steps, mode):
    p = policy(
        over_cap=mode, daily_ceiling_minor=CEILING, min_budget_minor=300, max_actions_per_campaign=6
    )
    budgets = {"as1": 380, "as2": 2000, "as3": 1500, "as4": 5000}
    start = dict(budgets)
    history: list[AppliedChange] = []
    events: list[Event] = []
    at, killed = T0, False
    for dt_s, obj, kind, rel, toggle in steps:
        at += timedelta(seconds=dt_s)
        killed = killed != (toggle == 0)
        acct, camp = ADSETS[obj]
        cur = budgets[obj]
        kw: dict[str, Any] = {}
        state = None
        if kind == "budget":
            kw["new_budget_minor"] = max(1, round(cur * (1 + rel)))
            total = sum(b for o, b in budgets.items() if ADSETS[o][0] == acct)
            state = BudgetState(cur, total)
        elif kind == "status":
            kw["new_status"] = "PAUSED"
        change = ProposedChange("default", acct, camp, obj, kind, at, **kw)
        d = p.evaluate(change, history=history, budget=state, kill_switch=killed)
        if not d.allowed:
            assert d.reason
            events.append(Event(at, obj, "rejected", None, None, killed))
            continue
        new = d.budget_minor if kind == "budget" else None
        history.append(
            AppliedChange("default", acct, camp, obj, kind, at, cur if new else None, new)
        )
        if new is not None:
            budgets[obj] = new
        events.append(Event(at, obj, kind, cur if new else None, new, killed))
    check_caps(p, events, start)
