"""MarketSimulatorActor: the catalogue actor ``market_simulator`` holding the live simulated
markets (:class:`core.platforms.live_market.LiveMarkets`), and :class:`MarketProxy`, the
adapter that the executor and the learning cycle use to reach it. One market per tenant for
the whole cluster, so what the executor changes is what the actuals fetcher reads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import ray

from core.db.engine import Database
from core.logs import configure_logging
from core.platforms.base import (
    AdPlatform,
    AdSpec,
    ApplyResult,
    BudgetChange,
    Change,
    InsightRow,
    ObjectState,
    PlatformError,
    PublishResult,
    StatusChange,
)
from core.platforms.config import PlatformsConfig
from core.platforms.live_market import LiveMarkets, as_error, raise_if_error
from core.settings import Settings


class MarketSimulatorActor:
    """Catalogue actor ``market_simulator`` (options in ``configs/actors.yaml``)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        configure_logging()
        self.settings = Settings.from_overrides(settings)
        self.markets = LiveMarkets(Database(self.settings.db_url), PlatformsConfig.load().simulator)

    def ping(self) -> bool:
        return True

    def call(self, tenant_id: str, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.markets.call(tenant_id, method, *args, **kwargs)

    def open(self, tenant_id: str, start: datetime, seed: int | None = None) -> datetime:
        """A new stepped market for the tenant at ``start`` (``LiveMarkets.open``)."""
        return self.markets.open(tenant_id, start, seed)

    def advance(self, tenant_id: str, hours: int) -> datetime:
        """Run the tenant's stepped market ``hours`` hours; its new time."""
        return self.markets.advance(tenant_id, hours)


class MarketProxy(AdPlatform):
    """The tenant's live market, through the ``market_simulator`` actor."""

    name = "simulator"

    def __init__(self, tenant_id: str, handle: Any) -> None:
        self.tenant_id = tenant_id
        self.handle = handle

    def _call(self, method: str, *args: Any) -> Any:
        return raise_if_error(ray.get(self.handle.call.remote(self.tenant_id, method, *args)))

    def set_budget(self, change: BudgetChange) -> ApplyResult:
        return self._call("set_budget", change)

    def set_status(self, change: StatusChange) -> ApplyResult:
        return self._call("set_status", change)

    def apply_batch(self, changes: Sequence[Change]) -> list[ApplyResult | PlatformError]:
        out = self._call("apply_batch", list(changes))
        return [as_error(r) or r for r in out]

    def create_ad(self, spec: AdSpec) -> PublishResult:
        return self._call("create_ad", spec)

    def read_state(self, object_id: str) -> ObjectState:
        return self._call("read_state", object_id)

    def read_states(
        self, object_ids: Sequence[str], *, budgets: Sequence[bool] | None = None
    ) -> list[ObjectState | PlatformError]:
        out = self._call("read_states", list(object_ids))
        return [as_error(r) or r for r in out]

    def insights(self, ad_ids: Sequence[str], since: date, until: date) -> list[InsightRow]:
        return self._call("insights", list(ad_ids), since, until)


def market_proxies(settings: Settings) -> Callable[[str], AdPlatform]:
    """``tenant -> MarketProxy`` over the catalogue's ``market_simulator`` (started if absent)."""
    from actors import catalogue

    def make(tenant_id: str) -> AdPlatform:
        return MarketProxy(tenant_id, catalogue.get("market_simulator", settings))

    return make
