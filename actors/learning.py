"""LearningOrchestrator: the catalogue actor that runs self-learning cycles (SPEC §4).

It is the scheduler: a thread looks every ``schedule.tick_s`` for tenants whose next cycle is
due (``learning_schedule``, persisted) and runs them, one at a time; :meth:`start_cycle` runs
one now (HTTP, CLI, ``ray job submit``). The cycle itself is :mod:`core.learning.cycle`.

Restarts: the due time is moved forward in the same transaction that starts a scheduled
cycle, so a restarted actor neither skips nor doubles it; a cycle left ``running`` by the
previous instance is closed as ``failed`` ("interrupted") when this one starts, and its
tenant's next cycle is made due at once (the interrupted one is run again, not lost).
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from actors.market import market_proxies
from actors.metrics import recorder
from core.db import learning as repo
from core.db.engine import Database
from core.db.models import utcnow
from core.execution.config import ExecutorConfig
from core.execution.platforms import PlatformRegistry
from core.learning.config import LearningConfig
from core.learning.context import CycleContext, CycleHooks
from core.learning.cycle import cycle_result, run_cycle
from core.logs import configure_logging
from core.platforms.config import PlatformsConfig
from core.settings import Settings

log = logging.getLogger("adcluster.learning")
INTERRUPTED = "interrupted: the orchestrator stopped mid-cycle"


class LearningOrchestrator:
    """Catalogue actor ``learning_orchestrator`` (options in ``configs/actors.yaml``)."""

    def __init__(self, settings: dict[str, Any], autostart: bool = True) -> None:
        configure_logging()
        self.settings = Settings.from_overrides(settings)
        self.config = LearningConfig.load()
        self.db = Database(self.settings.db_url)
        self.owner = f"learning-{uuid.uuid4().hex[:12]}"
        self.platforms = PlatformRegistry(
            ExecutorConfig.load(), PlatformsConfig.load(), simulator=market_proxies(self.settings)
        )
        self.clock = self.platforms.clock(self.db)  # a stepped simulator's time, or the wall's
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cycle")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.recovered = self._recover()
        if autostart:
            self.start()

    # --- lifecycle ----------------------------------------------------------------------
    def ping(self) -> bool:
        return True

    def _recover(self) -> list[str]:
        """Close the cycles an earlier instance left running; run scheduled ones again."""
        now = utcnow()
        with self.db.session() as s:
            rows = repo.fail_abandoned(s, now=now, not_owner=self.owner, reason=INTERRUPTED)
            for r in rows:
                if r.trigger == "schedule":
                    repo.reschedule_now(s, tenant_id=r.tenant_id, now=now)
            ids = [r.cycle_id for r in rows]
        if ids:
            log.warning("closed interrupted cycles", extra={"cycles": ids})
        return ids

    def start(self) -> bool:
        if self._threads:
            return False
        self._stop.clear()
        self._threads = [threading.Thread(target=self._beat, name="cycle-heartbeat", daemon=True)]
        if self.config.schedule.enabled:
            self._threads.append(
                threading.Thread(target=self._schedule, name="cycle-schedule", daemon=True)
            )
        for t in self._threads:
            t.start()
        return True

    def stop(self) -> bool:
        """Stop the threads; a cycle in progress is finished first."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        self._threads = []
        self._pool.shutdown(wait=True)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cycle")
        return True

    # --- cycles -------------------------------------------------------------------------
    def start_cycle(
        self, tenant_id: str, trigger: str = "api", requested_by: str | None = None
    ) -> dict[str, Any]:
        """Start a cycle now: ``{"cycle_id", "started": True}``, or ``{"cycle_id",
        "started": False}`` when the tenant already has one running (its id)."""
        with self.db.session() as s:
            try:
                row = repo.start_cycle(
                    s,
                    tenant_id=tenant_id,
                    trigger=trigger,
                    owner=self.owner,
                    requested_by=requested_by,
                )
            except repo.CycleRunning as exc:
                return {"cycle_id": exc.cycle_id, "started": False}
            cycle_id = row.cycle_id
        self._pool.submit(self._run, tenant_id, cycle_id)
        return {"cycle_id": cycle_id, "started": True}

    def run_now(self, tenant_id: str, trigger: str = "job") -> dict[str, Any]:
        """Start a cycle and wait for it; its result (or the running one's id)."""
        started = self.start_cycle(tenant_id, trigger)
        if not started["started"]:
            return started
        self._pool.submit(lambda: None).result()  # the pool runs one cycle at a time
        return self.cycle(tenant_id, started["cycle_id"]) or started

    def cycle(self, tenant_id: str, cycle_id: str) -> dict[str, Any] | None:
        with self.db.session() as s:
            row = repo.get_cycle(s, tenant_id=tenant_id, cycle_id=cycle_id)
            return None if row is None else cycle_result(row)

    def status(self) -> dict[str, Any]:
        with self.db.session() as s:
            tenants = repo.tenants(s, self.settings.tenant_id)
            due = {t: repo.next_due(s, t) for t in tenants}
        return {
            "owner": self.owner,
            "schedule_enabled": self.config.schedule.enabled,
            "interval_s": self.config.schedule.interval_s,
            "next_due": {t: (d.isoformat() if d else None) for t, d in due.items()},
            "recovered": self.recovered,
        }

    def _context(self, tenant_id: str, cycle_id: str) -> CycleContext:
        clock = utcnow
        if self.platforms.stepped_clock:  # the market stands still while the cycle runs
            at = self.clock(tenant_id)
            clock = lambda: at  # noqa: E731
        return CycleContext(
            db=self.db,
            settings=self.settings,
            config=self.config,
            tenant_id=tenant_id,
            cycle_id=cycle_id,
            platform_for=self.platforms,
            hooks=self._hooks(),
            clock=clock,
        )

    def _run(self, tenant_id: str, cycle_id: str) -> None:
        try:
            run_cycle(self._context(tenant_id, cycle_id), owner=self.owner)
        except Exception as exc:  # the loops catch their own; this is the bookkeeping
            log.exception("cycle failed", extra={"cycle_id": cycle_id})
            with self.db.session() as s:
                repo.finish_cycle(
                    s,
                    cycle_id,
                    owner=self.owner,
                    status="failed",
                    steps=[],
                    error=f"{type(exc).__name__}: {exc}",
                    now=utcnow(),
                )
        self._record(tenant_id, cycle_id)

    def _record(self, tenant_id: str, cycle_id: str) -> None:
        """The finished cycle's duration and its loops' into Ray's metrics."""
        try:
            result = self.cycle(tenant_id, cycle_id)
            if result is None or result["duration_seconds"] is None:
                return
            rec = recorder()
            rec.observe(
                "adcluster_learning_cycle_duration_seconds",
                result["duration_seconds"],
                trigger=result["trigger"],
                status=result["status"],
            )
            for step in result["steps"]:
                if step.get("duration_seconds") is not None:
                    rec.observe(
                        "adcluster_learning_loop_duration_seconds",
                        step["duration_seconds"],
                        loop=str(step["name"]),
                        status=str(step["status"]),
                    )
        except Exception as exc:  # metrics never fail a cycle
            log.warning("cycle metrics not recorded", extra={"error": repr(exc)})

    # --- Ray-side effects of the loops ---------------------------------------------------
    def _hooks(self) -> CycleHooks:
        from actors import catalogue

        def tell(role: str, method: str, *args: Any) -> None:
            try:
                handle = catalogue.lookup(role, self.settings)
                if handle is not None:
                    getattr(handle, method).remote(*args)
            except Exception as exc:  # a missing actor must not fail the loop
                log.warning("hook failed", extra={"role": role, "error": repr(exc)})

        def start_training(tenant_id: str, reason: str) -> str | None:
            from training.pipeline import new_run

            handle = catalogue.get("model_trainer", self.settings)
            run_id = new_run(self.db, tenant_id=tenant_id, kind="ctr", source="database")
            handle.start.remote(
                run_id,
                tenant_id=tenant_id,
                kind="ctr",
                source="database",
                synthetic_rows=0,
                seed=0,
            )
            log.info("challenger training started", extra={"run_id": run_id, "reason": reason})
            return run_id

        return CycleHooks(
            winners_changed=lambda t, dropped, re: tell("winner_memory", "rebuild"),
            experiments_changed=lambda t, ids: tell("sampler", "rebuild"),
            start_training=start_training,
            changes_queued=lambda t, n: tell("safe_executor", "wake"),
        )

    # --- threads ------------------------------------------------------------------------
    def _beat(self) -> None:
        while not self._stop.wait(self.config.cycle.heartbeat_s):
            try:
                with self.db.session() as s:
                    repo.heartbeat(s, owner=self.owner)
                    repo.fail_abandoned(
                        s,
                        now=utcnow(),
                        stale_after_s=self.config.cycle.stale_after_s,
                        reason="no heartbeat: its orchestrator is gone",
                    )
            except Exception as exc:
                log.warning("heartbeat failed", extra={"error": repr(exc)})

    def _schedule(self) -> None:
        sched = self.config.schedule
        while not self._stop.wait(sched.tick_s):
            try:
                self.tick()
            except Exception:
                log.exception("scheduler tick failed")

    def tick(self) -> list[str]:
        """Start every due tenant's cycle (at most one each); the started cycle ids."""
        sched, now, started = self.config.schedule, utcnow(), []
        with self.db.session() as s:
            tenants = repo.tenants(s, self.settings.tenant_id)
            due = repo.due_tenants(
                s, tenant_ids=tenants, now=now, first_delay_s=sched.first_delay_s
            )
        for tenant_id, due_at in due:
            with self.db.session() as s:
                try:
                    row = repo.start_cycle(
                        s, tenant_id=tenant_id, trigger="schedule", owner=self.owner
                    )
                except repo.CycleRunning:
                    continue  # a cycle is running: this slot is covered, the due time stays
                repo.advance_schedule(
                    s,
                    tenant_id=tenant_id,
                    due_at=due_at,
                    interval_s=sched.interval_s,
                    now=now,
                    cycle_id=row.cycle_id,
                )
                cycle_id = row.cycle_id
            self._pool.submit(self._run, tenant_id, cycle_id)
            started.append(cycle_id)
        return started
