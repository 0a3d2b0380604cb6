"""The live simulated market: one :class:`MarketSimulator` per tenant, shared by every
process that acts on it or reads it (the executor, the learning cycle), its state in the
database.

The ``market_simulator`` actor (``actors/market.py``) holds one :class:`LiveMarkets`; tests
use it directly. Two clocks (``simulator.clock``):

- ``live``: a tenant's market starts at the wall-clock hour it is first used, so dates in its
  insights are real dates, and runs ``live_hours_per_hour`` simulated hours per wall-clock
  hour; each call first runs the market up to now.
- ``stepped``: the market moves only when :meth:`LiveMarkets.advance` is called, and may be
  opened at a chosen time (:meth:`LiveMarkets.open`), e.g. days in the past, so a week runs
  in minutes (``adcluster demo``). :func:`market_time` is then the time the executor and the
  learning cycle act at for that tenant (``core.execution.platforms.PlatformRegistry.clock``).

Each call that changes a market (or runs it) saves it.
"""

from __future__ import annotations

import math
import pickle
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from core.db.engine import Database
from core.db.models import SimulatorMarket, utcnow
from core.platforms.base import PlatformError
from core.platforms.config import SimulatorConfig
from core.platforms.simulator import MarketSimulator

READS = frozenset({"read_state", "read_states", "insights", "insights_rows", "now"})
WRITES = frozenset({"set_budget", "set_status", "apply_batch", "create_ad"})
SETUP = frozenset({"create_campaign", "create_adset"})


class LiveMarkets:
    def __init__(
        self, db: Database, config: SimulatorConfig, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self._markets: dict[str, tuple[MarketSimulator, datetime, int]] = {}
        self._lock = threading.Lock()

    @property
    def stepped(self) -> bool:
        return self.config.clock == "stepped"

    def _load(self, tenant_id: str) -> tuple[MarketSimulator, datetime, int]:
        if tenant_id in self._markets:
            return self._markets[tenant_id]
        with self.db.session() as s:
            row = s.get(SimulatorMarket, tenant_id)
            if row is not None:
                entry = (pickle.loads(row.state), row.anchored_at, row.hours_run)
            else:
                anchor = self.clock().replace(minute=0, second=0, microsecond=0)
                sim = MarketSimulator(self.config.model_copy(update={"start": anchor.isoformat()}))
                entry = (sim, anchor, 0)
        self._markets[tenant_id] = entry
        return entry

    def _save(self, tenant_id: str) -> None:
        sim, anchor, hours = self._markets[tenant_id]
        with self.db.session() as s:
            row = s.get(SimulatorMarket, tenant_id)
            if row is None:
                row = SimulatorMarket(tenant_id=tenant_id)
                s.add(row)
            row.state, row.anchored_at, row.hours_run = pickle.dumps(sim), anchor, hours
            row.updated_at = utcnow()

    def _catch_up(self, tenant_id: str) -> bool:
        sim, anchor, hours = self._load(tenant_id)
        if self.stepped:
            return False
        elapsed_h = (self.clock() - anchor).total_seconds() / 3600.0
        due = math.floor(elapsed_h * self.config.live_hours_per_hour) - hours
        if due <= 0:
            return False
        sim.advance(due)
        self._markets[tenant_id] = (sim, anchor, hours + due)
        return True

    def open(self, tenant_id: str, start: datetime, seed: int | None = None) -> datetime:
        """A new market for a tenant that has none, its clock at ``start`` (whole hours, UTC)
        and its hidden rates from ``seed`` (default ``simulator.seed``); stepped clock only.
        Returns its time."""
        if not self.stepped:
            raise ValueError("open() needs simulator.clock: stepped")
        if start.utcoffset() is None or start != start.replace(minute=0, second=0, microsecond=0):
            raise ValueError(f"start must be a whole hour with a UTC offset, not {start}")
        with self._lock:
            with self.db.session() as s:
                taken = s.get(SimulatorMarket, tenant_id) is not None
            if taken or tenant_id in self._markets:
                raise ValueError(f"tenant {tenant_id!r} already has a market")
            config = self.config.model_copy(update={"start": start.isoformat()})
            self._markets[tenant_id] = (MarketSimulator(config, seed=seed), start, 0)
            self._save(tenant_id)
            return start

    def advance(self, tenant_id: str, hours: int) -> datetime:
        """Run the tenant's market ``hours`` simulated hours (stepped clock only); its new
        time."""
        if not self.stepped:
            raise ValueError(
                "advance() needs simulator.clock: stepped (live markets follow the wall clock)"
            )
        with self._lock:
            sim, anchor, run = self._load(tenant_id)
            sim.advance(hours)
            self._markets[tenant_id] = (sim, anchor, run + hours)
            self._save(tenant_id)
            return sim.now

    def call(self, tenant_id: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``method`` of the tenant's market, run up to now first. A platform error comes
        back as an ``("error", class name, message, code, retry_after_s)`` tuple, so the
        caller can raise it as what it was (see :func:`raise_if_error`)."""
        if method not in READS | WRITES | SETUP:
            raise ValueError(f"unknown market method {method!r}")
        with self._lock:
            ran = self._catch_up(tenant_id)
            sim = self._markets[tenant_id][0]
            try:
                attr = getattr(sim, method)
                result = attr if method == "now" else attr(*args, **kwargs)
            except PlatformError as exc:
                return ("error", type(exc).__name__, str(exc), exc.code, exc.retry_after_s)
            finally:
                if ran or method in WRITES | SETUP:
                    self._save(tenant_id)
            if method in ("apply_batch", "read_states"):
                result = [
                    ("error", type(r).__name__, str(r), r.code, r.retry_after_s)
                    if isinstance(r, PlatformError)
                    else r
                    for r in result
                ]
            return result


def market_time(db: Database, tenant_id: str) -> datetime | None:
    """A tenant's simulated time as last saved (None: it has no market yet)."""
    with db.session() as s:
        row = s.get(SimulatorMarket, tenant_id)
        return None if row is None else row.anchored_at + timedelta(hours=row.hours_run)


def as_error(value: Any) -> PlatformError | None:
    """The platform error an ``("error", ...)`` tuple stands for, else None."""
    if not (isinstance(value, tuple) and len(value) == 5 and value[0] == "error"):
        return None
    from core.platforms import base

    _, name, message, code, retry_after = value
    cls = getattr(base, name, PlatformError)
    if not (isinstance(cls, type) and issubclass(cls, PlatformError)):
        cls = PlatformError
    return cls(message, code=code, retry_after_s=retry_after)


def raise_if_error(value: Any) -> Any:
    err = as_error(value)
    if err is not None:
        raise err
    return value
