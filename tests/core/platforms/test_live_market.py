"""The live simulated market: shared per tenant, runs with the wall clock, survives a
restart (its state is in the database), platform errors come back as what they were."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from core.db.engine import Database
from core.platforms.base import AdSpec, BudgetChange, NotFoundError
from core.platforms.config import PlatformsConfig
from core.platforms.live_market import LiveMarkets, as_error, raise_if_error
from core.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 41, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def db(make_settings: Callable[..., Settings]) -> Database:
    return Database(make_settings("sqlite").db_url)


def test_a_market_runs_with_the_clock_and_survives_a_restart(db: Database) -> None:
    clock = Clock()
    config = PlatformsConfig.load().simulator.model_copy(update={"live_hours_per_hour": 2.0})
    m = LiveMarkets(db, config, clock)
    c = m.call("t1", "create_campaign", "c")
    adset = m.call("t1", "create_adset", c, 20_000)
    ad = m.call(
        "t1",
        "create_ad",
        AdSpec(adset, "/m/v.mp4", "ad", "k1", status="ACTIVE", features={"motion": 0.7}),
    )
    # anchored at 09:00; at 09:41 and 2x speed, one whole simulated hour has run
    assert m.call("t1", "now") == datetime(2026, 3, 2, 10, tzinfo=UTC)
    clock.now += timedelta(hours=3)  # 12:41: 3.68 wall hours at 2x = 7 whole hours
    assert m.call("t1", "now") == datetime(2026, 3, 2, 16, tzinfo=UTC)
    rows = m.call("t1", "insights", [ad.ad_id], clock.now.date(), clock.now.date())
    assert rows and rows[0].impressions > 0
    m.call("t1", "set_budget", BudgetChange(adset, 30_000, "k2"))

    again = LiveMarkets(db, config, clock)  # a restarted actor
    state = again.call("t1", "read_state", adset)
    assert state.daily_budget_minor == 30_000
    assert again.call("t1", "insights", [ad.ad_id], clock.now.date(), clock.now.date()) == rows
    clock.now += timedelta(hours=1)
    assert again.call("t1", "now") == datetime(2026, 3, 2, 18, tzinfo=UTC)
    # tenants have their own markets
    err = again.call("t2", "read_state", adset)
    with pytest.raises(NotFoundError):
        raise_if_error(err)


def test_errors_and_unknown_methods(db: Database) -> None:
    m = LiveMarkets(db, PlatformsConfig.load().simulator, Clock())
    out = m.call("t", "apply_batch", [BudgetChange("nope", 100, "k")])
    assert isinstance(as_error(out[0]), NotFoundError)
    with pytest.raises(ValueError, match="unknown market method"):
        m.call("t", "_step_hour")


def test_a_stepped_market_moves_only_when_told(db: Database) -> None:
    """``clock: stepped`` (the demo): opened at a chosen hour, run by ``advance``, its time
    saved where the executor and the learning cycle read it."""
    from core.platforms.live_market import market_time

    clock = Clock()
    config = PlatformsConfig.load().simulator.model_copy(update={"clock": "stepped"})
    m = LiveMarkets(db, config, clock)
    start = datetime(2026, 2, 20, tzinfo=UTC)
    assert m.open("t1", start, seed=3) == start and market_time(db, "t1") == start
    with pytest.raises(ValueError, match="already has a market"):
        m.open("t1", start)
    with pytest.raises(ValueError, match="whole hour"):
        m.open("t2", start + timedelta(minutes=5))
    c = m.call("t1", "create_campaign", "c")
    adset = m.call("t1", "create_adset", c, 20_000)
    ad = m.call("t1", "create_ad", AdSpec(adset, "/m/v.mp4", "ad", "k1", status="ACTIVE"))
    clock.now += timedelta(days=3)  # the wall clock moves the market no more
    assert m.call("t1", "now") == start
    assert m.advance("t1", 5) == start + timedelta(hours=5)
    assert market_time(db, "t1") == start + timedelta(hours=5)
    again = LiveMarkets(db, config, clock)  # a restarted actor carries on where it was
    assert again.call("t1", "now") == start + timedelta(hours=5)
    rows = again.call("t1", "insights", [ad.ad_id], start.date(), start.date())
    assert rows and rows[0].impressions > 0
    assert market_time(db, "nobody") is None
    live = LiveMarkets(db, PlatformsConfig.load().simulator, clock)
    with pytest.raises(ValueError, match="stepped"):
        live.advance("t1", 1)
