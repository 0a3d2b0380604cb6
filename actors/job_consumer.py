"""JobConsumer: a long-lived actor that drains ``pending_jobs``.

A background thread claims due jobs, runs their handler, and marks them done or failed
(with backoff). On PostgreSQL a second thread LISTENs for ``adcluster_jobs`` notifications
and wakes the loop at once; polling every ``poll_interval_s`` is the fallback (and the
SQLite path). A restarted consumer picks up jobs whose lease expired.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import ray
from sqlalchemy.engine import make_url

from actors import catalogue
from actors.metrics import ActorMetrics
from core.db import jobs
from core.db.engine import Database
from core.db.triggers import JOB_TYPE, NOTIFY_CHANNEL
from core.logs import configure_logging
from core.settings import Settings

log = logging.getLogger("adcluster.job_consumer")
Handler = Callable[[dict[str, Any]], Any]
# Many payloads of one type in one call: one error message (or None) per payload, in order.
BatchHandler = Callable[[list[dict[str, Any]]], list[str | None]]


def default_handlers(settings: Settings) -> dict[str, Handler]:
    """Job type → handler. ``rag_index_winner`` indexes into the WinnerMemory actor."""

    def index_winner(payload: dict[str, Any]) -> Any:
        memory = catalogue.get("winner_memory", settings)
        return ray.get(memory.index_winner.remote(payload), timeout=120)

    return {JOB_TYPE: index_winner}


def default_batch_handlers(settings: Settings) -> dict[str, BatchHandler]:
    """Job type → batch handler: a claimed batch of winners is one WinnerMemory call."""

    def index_winners(payloads: list[dict[str, Any]]) -> list[str | None]:
        memory = catalogue.get("winner_memory", settings)
        results = ray.get(memory.index_winners.remote(payloads), timeout=120)
        return [r.get("error") for r in results]

    return {JOB_TYPE: index_winners}


class JobConsumer:
    """Catalogue actor ``job_consumer`` (options in ``configs/actors.yaml``)."""

    def __init__(self, settings: dict[str, Any], autostart: bool = True) -> None:
        configure_logging()
        self.settings = Settings.from_overrides(settings)
        self.cfg = self.settings.jobs
        self.db = Database(self.settings.db_url)
        self.handlers = default_handlers(self.settings)
        self.batch_handlers = default_batch_handlers(self.settings)
        self.worker = f"consumer-{os.getpid()}-{int(time.time())}"
        self.processed = {"done": 0, "retried": 0, "failed": 0}
        self.metrics = ActorMetrics(
            self.settings.metrics,
            counter="adcluster_jobs_processed",
            outcomes=lambda: dict(self.processed),
            queue="pending_jobs",
            depth=self._open_jobs,
        )
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        if autostart:
            self.start()

    def start(self) -> bool:
        if self._threads:
            return False
        self._stop.clear()
        self._threads = [threading.Thread(target=self._loop, name="jobs-loop", daemon=True)]
        if self.db.is_postgres:
            self._threads.append(
                threading.Thread(target=self._listen, name="jobs-listen", daemon=True)
            )
        for t in self._threads:
            t.start()
        self.metrics.start()
        return True

    def stop(self) -> bool:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout=10)
        self._threads = []
        self.metrics.stop()
        return True

    def wake(self) -> None:
        self._wake.set()

    def ping(self) -> bool:
        return True

    def _open_jobs(self) -> dict[str, int]:
        with self.db.session() as s:
            return jobs.open_counts(s)

    def stats(self) -> dict[str, Any]:
        with self.db.session() as s:
            queue = jobs.counts(s)
        return {"worker": self.worker, "processed": dict(self.processed), "queue": queue}

    def run_once(self) -> int:
        """Claim one batch and run it; returns the number of jobs handled.

        Jobs of a type with a batch handler go in one call and are completed in one
        transaction; a batch call that fails as a whole is retried job by job.
        """
        with self.db.session() as s:
            batch = jobs.claim(
                s, worker=self.worker, limit=self.cfg.batch_size, lease_s=self.cfg.lease_s
            )
        by_type: dict[str, list[jobs.ClaimedJob]] = {}
        for job in batch:
            by_type.setdefault(job.job_type, []).append(job)
        for job_type, group in by_type.items():
            handler = self.batch_handlers.get(job_type)
            if handler is None or len(group) == 1:
                for job in group:
                    self._run(job)
                continue
            try:
                errors = handler([job.payload for job in group])
            except Exception:
                log.warning("batch handler failed; running its jobs one by one", exc_info=True)
                for job in group:
                    self._run(job)
                continue
            done = [job.id for job, error in zip(group, errors, strict=True) if error is None]
            with self.db.session() as s:
                jobs.complete_many(s, done)
            self.processed["done"] += len(done)
            for job, error in zip(group, errors, strict=True):
                if error is not None:
                    self._failed(job, error)
        return len(batch)

    def _run(self, job: jobs.ClaimedJob) -> None:
        handler = self.handlers.get(job.job_type)
        try:
            if handler is None:
                raise LookupError(f"no handler for job type {job.job_type!r}")
            handler(job.payload)
        except Exception as exc:  # the handler's failure is the job's, not the loop's
            self._failed(job, f"{type(exc).__name__}: {exc}")
            return
        with self.db.session() as s:
            jobs.complete(s, job.id)
        self.processed["done"] += 1

    def _failed(self, job: jobs.ClaimedJob, error: str) -> None:
        with self.db.session() as s:
            status = jobs.fail(s, job.id, error, self.cfg)
        key = "failed" if status == "failed" else "retried"
        self.processed[key] += 1
        log.warning(
            "job failed", extra={"job_id": job.id, "job_type": job.job_type, "status": status}
        )

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                handled = self.run_once()
            except Exception:
                log.exception("job loop error")
                handled = 0
            if handled < self.cfg.batch_size:  # drained: wait for news, then let it gather
                if handled == 0:
                    self._wake.wait(self.cfg.poll_interval_s)
                    self._wake.clear()
                if self.cfg.linger_s > 0:
                    self._stop.wait(self.cfg.linger_s)

    def _listen(self) -> None:
        import psycopg

        dsn = make_url(self.db.url).set(drivername="postgresql")
        dsn_str = dsn.render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(dsn_str, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self._wake.set()
            except Exception as exc:
                log.warning("LISTEN failed; polling only", extra={"error": type(exc).__name__})
                self._stop.wait(5.0)
