"""The winner rule in Python (its agreement with the trigger: tests/core/db/)."""

from __future__ import annotations

import math

import pytest

from core.domain.winner import WinnerRule, derive_ctr, derive_roas, is_winner, winner_reason

RULE = WinnerRule(min_hours_live=24.0, min_impressions=1000, min_ctr=0.03, min_roas=3.0)


@pytest.mark.parametrize(
    ("ctr", "roas", "reason"),
    [(0.031, 0.0, "ctr"), (0.0, 3.01, "roas"), (0.05, 4.0, "both"), (0.03, 3.0, None)],
)
def test_reason(ctr: float, roas: float, reason: str | None) -> None:
    assert winner_reason(ctr, roas, RULE) == reason


def test_nan_never_wins() -> None:
    assert winner_reason(math.nan, math.nan, RULE) is None


@pytest.mark.parametrize(
    ("hours", "imps", "ctr", "expected"),
    [(24.0, 1000, 0.05, True), (23.99, 1000, 0.05, False), (48, 999, 0.05, False)],
)
def test_is_winner_boundaries(hours: float, imps: int, ctr: float, expected: bool) -> None:
    assert is_winner(hours_live=hours, impressions=imps, ctr=ctr, roas=0, rule=RULE) is expected


def test_derived_rates_guard_zero() -> None:
    assert derive_ctr(0, 0) == 0.0 and derive_roas(0.0, 10.0) == 0.0
    assert derive_ctr(200, 7) == pytest.approx(0.035) and derive_roas(10, 35) == 3.5


def test_infinite_rates_never_win() -> None:
    assert winner_reason(math.inf, math.inf, RULE) is None


def test_rule_is_one_frozen_validated_type() -> None:
    from core.settings import Settings

    assert Settings.load().winner == RULE
    with pytest.raises(ValueError):
        WinnerRule(min_hours_live=24, min_impressions=1000, min_ctr=2, min_roas=3)
    with pytest.raises(ValueError):
        RULE.min_ctr = 0.5  # type: ignore[misc]
