"""Which adapter serves a tenant's change: the market simulator (embedded default) or Meta.

Meta serves a tenant when ``platforms.yaml: adapter`` is ``meta`` or the tenant is listed
in ``executor.yaml: meta_tenants``; its credentials come from the environment or the
secrets file (``core.platforms.meta.load_credentials``). One adapter per (tenant, ad
account) is kept for the executor's life. The simulator keeps its market in memory, one per
tenant: ids it does not know fail as not found. On a cluster, ``simulator`` gives every
process the same live market (``actors/market.py``: the ``market_simulator`` actor).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from core.db.engine import Database
from core.db.models import utcnow
from core.execution.config import ExecutorConfig
from core.platforms.base import AdPlatform
from core.platforms.config import PlatformsConfig
from core.platforms.simulator import MarketSimulator


class PlatformRegistry:
    """``registry(tenant_id, account_id)`` → the adapter (a ``PlatformFor``)."""

    def __init__(
        self,
        executor: ExecutorConfig,
        platforms: PlatformsConfig,
        simulator: Callable[[str], AdPlatform] | None = None,
    ) -> None:
        self.executor = executor
        self.platforms = platforms
        self.simulator = simulator  # tenant -> its market (default: one in this process)
        self._adapters: dict[tuple[str, str], AdPlatform] = {}
        self._lock = threading.Lock()

    def uses_meta(self, tenant_id: str) -> bool:
        return self.platforms.adapter == "meta" or tenant_id in self.executor.meta_tenants

    @property
    def stepped_clock(self) -> bool:
        """True when simulated markets move only when told (``simulator.clock: stepped``)."""
        return self.platforms.simulator.clock == "stepped"

    def clock(self, db: Database) -> Callable[[str], datetime]:
        """``clock(tenant_id)``: the time a tenant's changes and learning cycles act at. The
        wall clock, except with ``simulator.clock: stepped``, where a tenant the simulator
        serves acts at its market's time (saved in ``db``; the wall clock until it has one)."""
        if not self.stepped_clock:
            return lambda _tenant_id: utcnow()
        from core.platforms.live_market import market_time

        def now(tenant_id: str) -> datetime:
            if self.uses_meta(tenant_id):
                return utcnow()
            return market_time(db, tenant_id) or utcnow()

        return now

    def __call__(self, tenant_id: str, account_id: str) -> AdPlatform:
        meta = self.uses_meta(tenant_id)
        key = (tenant_id, account_id if meta else "")
        with self._lock:
            adapter = self._adapters.get(key)
            if adapter is None:
                adapter = self._make(tenant_id, account_id, meta)
                self._adapters[key] = adapter
            return adapter

    def _make(self, tenant_id: str, account_id: str, meta: bool) -> AdPlatform:
        if not meta:
            if self.simulator is not None:
                return self.simulator(tenant_id)
            return MarketSimulator(self.platforms.simulator)
        from core.platforms.meta import MetaAdapter, load_credentials  # loads the SDK

        creds = load_credentials(tenant_id, self.platforms.meta)
        return MetaAdapter(self.platforms.meta, creds, account_id=account_id)
