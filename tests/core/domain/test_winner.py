"""The winner rule in Python, and its agreement with the database trigger."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from core.db.engine import Database
from core.db.models import Ad, PendingJob, PerformanceMetric, utcnow
from core.domain.winner import Thresholds, derive_ctr, derive_roas, is_winner, winner_reason

RULE = Thresholds(min_hours_live=24.0, min_impressions=1000, min_ctr=0.03, min_roas=3.0)


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


@pytest.fixture(scope="module")
def sqlite_db(make_settings):  # type: ignore[no-untyped-def]
    db = Database(make_settings("sqlite").db_url)
    yield db
    db.dispose()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    hours=st.floats(0, 100),
    impressions=st.integers(0, 5000),
    click_share=st.floats(0, 0.1),
    roas=st.floats(0, 6),
)
def test_trigger_agrees_with_python_rule(
    sqlite_db: Database, hours: float, impressions: int, click_share: float, roas: float
) -> None:
    if abs(hours - RULE.min_hours_live) < 1e-3:  # clock resolution between the two checks
        hours += 0.01
    clicks = int(impressions * click_share)
    ctr = derive_ctr(impressions, clicks)
    now = utcnow()
    with sqlite_db.session() as s:
        s.execute(delete(PendingJob))
        s.execute(delete(PerformanceMetric))
        s.execute(delete(Ad))
        s.add(Ad(ad_id="p", launched_at=now - timedelta(hours=hours)))
    with sqlite_db.session() as s:
        s.add(
            PerformanceMetric(
                ad_id="p",
                impressions=impressions,
                clicks=clicks,
                ctr=ctr,
                roas=roas,
                observed_at=now,
            )
        )
    with sqlite_db.session() as s:
        queued = s.scalar(select(func.count()).select_from(PendingJob)) == 1
    expected = is_winner(hours_live=hours, impressions=impressions, ctr=ctr, roas=roas, rule=RULE)
    assert queued is expected
