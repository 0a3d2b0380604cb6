"""SafeExecutor: the catalogue actor that applies queued ad changes (SPEC §3.5).

A shell over :class:`core.execution.engine.ChangeExecutor`: a loop thread runs rounds (claim
up to ``batch_size`` due changes, decide, send, record) and, when idle, sleeps until the next
change is due or ``poll_interval_s``; on PostgreSQL a second thread LISTENs on
``adcluster_ad_changes`` and wakes it at once. All state is in the database, so a restarted
actor carries on: its worker id is its Ray actor name (stable across restarts), and its first
round takes back the claims it held when it died.

Several executors: add catalogue entries with the same class and another ``name``
(``safe_executor_2``...); each is a worker with its own id, and ``FOR UPDATE SKIP LOCKED``
keeps them off each other's changes.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from sqlalchemy.engine import make_url

from actors.market import market_proxies
from actors.metrics import ActorMetrics
from core.db import changes
from core.db.changes import NOTIFY_CHANNEL
from core.db.engine import Database
from core.domain.safety import load_policy
from core.execution.config import ExecutorConfig
from core.execution.engine import ChangeExecutor
from core.execution.platforms import PlatformRegistry
from core.logs import configure_logging
from core.platforms.config import PlatformsConfig
from core.settings import Settings

log = logging.getLogger("adcluster.executor")


def _actor_name() -> str | None:
    try:
        import ray

        return ray.get_runtime_context().get_actor_name() or None
    except Exception:
        return None


class SafeExecutor:
    """Catalogue actor ``safe_executor`` (options in ``configs/actors.yaml``)."""

    def __init__(
        self, settings: dict[str, Any], worker_id: str | None = None, autostart: bool = True
    ) -> None:
        configure_logging()
        self.settings = Settings.from_overrides(settings)
        self.config = ExecutorConfig.load()
        self.db = Database(self.settings.db_url)
        self.worker = worker_id or _actor_name() or f"executor-{os.getpid()}"
        platforms = PlatformRegistry(
            self.config, PlatformsConfig.load(), simulator=market_proxies(self.settings)
        )
        self.engine = ChangeExecutor(
            self.db,
            worker=self.worker,
            config=self.config,
            policy=load_policy(),
            platform_for=platforms,
            clock=platforms.clock(self.db),
        )
        self.metrics = ActorMetrics(
            self.settings.metrics,
            counter="adcluster_executor_outcomes",
            outcomes=lambda: dict(self.engine.processed),
            queue="pending_ad_changes",
            depth=self._open_changes,
        )
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        if autostart:
            self.start()

    def ping(self) -> bool:
        return True

    def _open_changes(self) -> dict[str, int]:
        with self.db.session() as s:
            return changes.counts(s, statuses=("pending", "claimed"))

    def start(self) -> bool:
        if self._threads:
            return False
        self._stop.clear()
        self._threads = [threading.Thread(target=self._loop, name="executor-loop", daemon=True)]
        if self.db.is_postgres and self.config.listen:
            self._threads.append(
                threading.Thread(target=self._listen, name="executor-listen", daemon=True)
            )
        for t in self._threads:
            t.start()
        self.metrics.start()
        return True

    def stop(self) -> bool:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout=30)
        self._threads = []
        self.metrics.stop()
        return True

    def wake(self) -> None:
        self._wake.set()

    def run_once(self) -> int:
        return self.engine.run_once()

    def stats(self) -> dict[str, Any]:
        with self.db.session() as s:
            queue = changes.counts(s)
        return {"worker": self.worker, "processed": dict(self.engine.processed), "queue": queue}

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                handled = self.engine.run_once()
                wait = self.engine.next_due_in() if handled == 0 else 0.0
            except Exception:
                log.exception("executor round failed")
                handled, wait = 0, self.config.poll_interval_s
            if handled == 0:
                poll = self.config.poll_interval_s
                self._wake.wait(poll if wait is None else min(max(wait, 0.05), poll))
                self._wake.clear()

    def _listen(self) -> None:
        import psycopg

        dsn = make_url(self.db.url).set(drivername="postgresql").render_as_string(False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self._wake.set()
            except Exception as exc:
                log.warning("LISTEN failed; polling only", extra={"error": type(exc).__name__})
                self._stop.wait(5.0)
