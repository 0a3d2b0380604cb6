"""The demo's two markets, in lockstep: the tenant's live simulated market (the
``market_simulator`` actor, stepped clock: what the executor acts on and what the platform
learns from) and the uniform baseline, a second :class:`MarketSimulator` with the same seed,
start, ad sets and ads, whose equal budget split is never changed (as in
``benchmarks/learning.py``). Same calls in the same order give the same ids and hidden rates,
so the two differ only by what the platform did."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ray

from actors import catalogue
from actors.market import MarketProxy
from core.platforms.base import AdSpec, InsightRow, ObjectState
from core.platforms.config import PlatformsConfig
from core.platforms.live_market import raise_if_error
from core.platforms.simulator import MarketSimulator
from core.settings import Settings

TOTALS = ("impressions", "clicks", "purchases", "spend", "revenue")


@dataclass(frozen=True)
class Totals:
    """Lifetime totals per ad (``by_ad[ad] = [impressions, clicks, purchases, spend,
    revenue]``) and their sums."""

    by_ad: dict[str, list[float]]

    @property
    def revenue(self) -> float:
        return float(sum(t[4] for t in self.by_ad.values()))

    @property
    def spend(self) -> float:
        return float(sum(t[3] for t in self.by_ad.values()))


def lifetime(rows: list[InsightRow], ad_ids: list[str]) -> Totals:
    by_ad = {a: [0.0] * len(TOTALS) for a in ad_ids}
    for r in rows:
        t = by_ad[r.ad_id]
        for i, v in enumerate((r.impressions, r.clicks, r.purchases, r.spend, r.purchase_value)):
            t[i] += v
    return Totals(by_ad)


class Markets:
    """The live market of ``tenant`` and its uniform twin, opened at ``start``."""

    def __init__(self, settings: Settings, tenant: str, start: datetime, seed: int) -> None:
        self.tenant, self.start, self.seed = tenant, start, seed
        self.handle = catalogue.get("market_simulator", settings)
        self.live = MarketProxy(tenant, self.handle)
        ray.get(self.handle.open.remote(tenant, start, seed))
        config = PlatformsConfig.load().simulator
        if config.clock != "stepped":
            raise RuntimeError("the demo needs platforms.yaml simulator.clock: stepped")
        self.twin = MarketSimulator(
            config.model_copy(update={"start": start.isoformat()}), seed=seed
        )
        self.campaign = ""
        self.adsets: list[str] = []

    def _setup(self, method: str, *args: Any, **kw: Any) -> Any:
        live = raise_if_error(ray.get(self.handle.call.remote(self.tenant, method, *args, **kw)))
        twin = getattr(self.twin, method)(*args, **kw)
        if live != twin:
            raise RuntimeError(f"the baseline's market diverged at {method}: {live} != {twin}")
        return live

    def create_adsets(self, count: int, daily_budget_minor: int) -> list[str]:
        """One campaign with ``count`` ad sets at the same budget, in both markets."""
        self.campaign = self._setup("create_campaign", "demo")
        self.adsets = [
            self._setup("create_adset", self.campaign, daily_budget_minor, name=f"demo-set-{i:02d}")
            for i in range(count)
        ]
        return self.adsets

    def mirror_publish(self, ad_id: str, spec: AdSpec) -> None:
        """The ad the executor published as ``ad_id``, created in the baseline (call in the
        order the live market made them: the ids must agree)."""
        made = self.twin.create_ad(spec).ad_id
        if made != ad_id:
            raise RuntimeError(f"the baseline's market made {made} where the live one made {ad_id}")

    def advance(self, hours: int = 1) -> datetime:
        now = ray.get(self.handle.advance.remote(self.tenant, hours))
        self.twin.advance(hours)
        if now != self.twin.now:
            raise RuntimeError(f"clocks apart: live {now}, baseline {self.twin.now}")
        return now

    @property
    def now(self) -> datetime:
        return self.twin.now

    def totals(self, ad_ids: list[str]) -> tuple[Totals, Totals]:
        """Lifetime totals of the live market and of the baseline."""
        since, until = self.start.date(), self.now.date()
        return (
            lifetime(self.live.insights(ad_ids, since, until), ad_ids),
            lifetime(self.twin.insights(ad_ids, since, until), ad_ids),
        )

    def states(self, ids: list[str]) -> list[ObjectState]:
        out = self.live.read_states(ids)
        bad = [s for s in out if not isinstance(s, ObjectState)]
        if bad:
            raise RuntimeError(f"cannot read the market: {bad[0]}")
        return out  # type: ignore[return-value]

    def true_value(self, ad_id: str) -> float:
        """The hidden revenue per impression of an ad (the baseline's copy of the truth; for
        the report only, never for a decision)."""
        return self.twin.oracle(ad_id).revenue_per_impression
