"""The executor acting at a stepped simulator's time (``simulator.clock: stepped``): changes
take effect at the market's time, and the safety caps count them in that time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.db.engine import Database
from core.db.models import Ad, PendingAdChange
from core.execution.config import ExecutorConfig
from core.execution.engine import ChangeExecutor
from core.execution.platforms import PlatformRegistry
from core.execution.service import NewChange, request_change
from core.platforms.config import PlatformsConfig
from core.platforms.live_market import LiveMarkets
from core.settings import Settings
from tests.support.executor_world import executor_config, policy

START = datetime(2025, 6, 2, tzinfo=UTC)


@pytest.fixture
def db(make_settings: Callable[..., Settings]) -> Iterator[Database]:
    database = Database(make_settings("sqlite").db_url)
    yield database
    database.dispose()


def stepped() -> PlatformsConfig:
    cfg = PlatformsConfig.load()
    return cfg.model_copy(
        update={"simulator": cfg.simulator.model_copy(update={"clock": "stepped"})}
    )


class Market:
    """The tenant's stepped market as the executor's platform (``LiveMarkets.call``)."""

    name = "simulator"

    def __init__(self, markets: LiveMarkets, tenant: str) -> None:
        self.markets, self.tenant = markets, tenant

    def __getattr__(self, name: str) -> Callable[..., object]:
        from core.platforms.live_market import as_error, raise_if_error

        def call(*args: object, **kw: object) -> object:
            out = self.markets.call(self.tenant, name, *args, **kw)
            if isinstance(out, list):
                return [as_error(r) or r for r in out]
            return raise_if_error(out)

        return call


def test_changes_take_effect_and_are_capped_at_the_market_time(db: Database) -> None:
    platforms = stepped()
    markets = LiveMarkets(db, platforms.simulator)
    markets.open("default", START)
    market = Market(markets, "default")
    campaign = market.create_campaign("c")
    adsets = [market.create_adset(campaign, 10_000) for _ in range(20)]
    registry = PlatformRegistry(ExecutorConfig.load(), platforms, simulator=lambda t: market)
    clock = registry.clock(db)
    assert clock("default") == START and clock("elsewhere") > START + timedelta(days=100)
    executor = ChangeExecutor(
        db,
        worker="w1",
        config=executor_config(defer_window_rejections=False),
        policy=policy(),
        platform_for=registry,
        clock=clock,
    )

    def queue(tag: str, budget: int) -> None:
        now = clock("default")  # read before the transaction (SQLite: one writer)
        with db.session() as s:
            for i, adset in enumerate(adsets):
                change = NewChange("budget", f"{tag}-{i}", "act", campaign, budget, adset)
                request_change(
                    s,
                    change,
                    tenant_id="default",
                    requested_by="t",
                    policy=policy(),
                    now=now,
                )

    def run(status: str) -> list[PendingAdChange]:
        while executor.run_once():
            pass
        with db.session() as s:
            return list(s.scalars(select(PendingAdChange).where(PendingAdChange.status == status)))

    queue("a", 10_500)
    applied = run("applied")
    # 15 actions per campaign per (simulated) hour; each took effect at the market's time
    assert len(applied) == 15 and {c.applied_at for c in applied} == {START}
    markets.advance("default", 2)  # two simulated hours later (a few ms of wall time)
    with db.session() as s:  # the 5 rejected ones again, under new keys
        rejected = s.scalars(select(PendingAdChange).where(PendingAdChange.status == "rejected"))
        assert len(list(rejected)) == 5
    queue("b", 11_000)
    applied = run("applied")
    later = [c for c in applied if c.idempotency_key.startswith("b-")]
    # +10% over two hours is within the 6 h velocity cap (+20%), so only the hourly action
    # cap binds, counted in simulated hours (all of it is milliseconds of wall time)
    assert len(later) == 15 and {c.applied_at for c in later} == {START + timedelta(hours=2)}


def test_a_published_ad_is_launched_at_the_market_time(db: Database) -> None:
    platforms = stepped()
    markets = LiveMarkets(db, platforms.simulator)
    markets.open("default", START)
    market = Market(markets, "default")
    adset = market.create_adset(market.create_campaign("c"), 10_000)
    markets.advance("default", 3)
    registry = PlatformRegistry(ExecutorConfig.load(), platforms, simulator=lambda t: market)
    executor = ChangeExecutor(
        db,
        worker="w1",
        config=executor_config(),
        policy=policy(),
        platform_for=registry,
        clock=registry.clock(db),
    )
    spec = {"video_path": "/m/v.mp4", "name": "ad", "status": "ACTIVE", "features": {"motion": 0.4}}
    with db.session() as s:
        request_change(
            s,
            NewChange("create_ad", "pub-1", "act", "c", spec, adset),
            tenant_id="default",
            requested_by="t",
            policy=policy(),
        )
    while executor.run_once():
        pass
    with db.session() as s:
        ad = s.scalars(select(Ad)).one()
        assert ad.launched_at == START + timedelta(hours=3) and ad.status == "active"
