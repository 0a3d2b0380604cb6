"""Background pro batches (202 + polling): state in the ``pro_jobs`` table, run by a
named, restartable actor that resumes unfinished jobs from the database on start."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ray
from sqlalchemy import select

from core.db.engine import Database
from core.db.models import ProJob
from core.settings import Settings
from core.video import MediaRoots
from core.video.safety import safe_component
from serve_apps.video.batch import OperationSpec, batch_status, run_batch_async
from serve_apps.video.tasks import RunContext

log = logging.getLogger(__name__)

UNFINISHED = ("queued", "running")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class JobStore:
    """Create, read and advance pro jobs; every method is one short transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, tenant_id: str, request: dict[str, Any], total: int) -> str:
        job_id = uuid.uuid4().hex
        with self.db.session() as s:
            s.add(
                ProJob(
                    job_id=job_id,
                    tenant_id=tenant_id,
                    status="queued",
                    total=total,
                    completed=0,
                    successful=0,
                    request=request,
                    results=[None] * total,
                    created_at=_now(),
                    updated_at=_now(),
                )
            )
        return job_id

    def get(self, job_id: str, tenant_id: str | None = None) -> dict[str, Any] | None:
        """The job as a dict; ``None`` when absent or of another tenant."""
        with self.db.session() as s:
            job = s.get(ProJob, job_id)
            if job is None or (tenant_id is not None and job.tenant_id != tenant_id):
                return None
            return {
                c: getattr(job, c)
                for c in (
                    "job_id",
                    "tenant_id",
                    "status",
                    "total",
                    "completed",
                    "successful",
                    "request",
                    "results",
                    "error",
                    "created_at",
                    "updated_at",
                )
            }

    def unfinished(self) -> list[str]:
        with self.db.session() as s:
            rows = s.scalars(select(ProJob.job_id).where(ProJob.status.in_(UNFINISHED)))
            return list(rows)

    def set_status(self, job_id: str, status: str, error: str | None = None) -> None:
        with self.db.session() as s:
            job = s.get(ProJob, job_id)
            if job is not None:
                job.status, job.error, job.updated_at = status, error, _now()

    def record(self, job_id: str, index: int, result: dict[str, Any]) -> None:
        """Store one operation's result and the progress counters."""
        with self.db.session() as s:
            job = s.get(ProJob, job_id)
            if job is None:
                return
            results = list(job.results or [None] * job.total)
            results[index] = result
            job.results = results
            done = [r for r in results if r is not None]
            job.completed = len(done)
            job.successful = sum(r["status"] == "success" for r in done)
            job.updated_at = _now()

    def finish(self, job_id: str) -> None:
        with self.db.session() as s:
            job = s.get(ProJob, job_id)
            if job is not None:
                job.status = batch_status([r for r in job.results if r is not None])
                job.updated_at = _now()


def job_context(settings: Settings, tenant_id: str, job_id: str) -> RunContext:
    roots = MediaRoots.from_settings(settings)
    return RunContext(
        roots=roots,
        output_dir=Path(roots.output_root) / safe_component(tenant_id) / job_id,
        feature_dim=settings.memory.video_dim,
    )


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1, max_concurrency=16)
class ProJobRunner:
    """Runs queued pro jobs; on (re)start it resumes every unfinished job, re-running only
    the operations that have no stored result yet."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = Settings.from_overrides(settings)
        self.store = JobStore(Database(self.settings.db_url))
        self._running: dict[str, asyncio.Task] = {}
        self._resumed = False

    async def _resume(self) -> None:
        if not self._resumed:
            self._resumed = True
            for job_id in self.store.unfinished():
                self._start(job_id)

    def _start(self, job_id: str) -> None:
        if job_id not in self._running or self._running[job_id].done():
            self._running[job_id] = asyncio.get_running_loop().create_task(self._run(job_id))

    async def submit(self, job_id: str) -> str:
        """Start ``job_id`` (already stored as queued) in the background."""
        await self._resume()
        self._start(job_id)
        return job_id

    async def ping(self) -> list[str]:
        """Resume work if needed; the ids of jobs running in this process."""
        await self._resume()
        return [j for j, t in self._running.items() if not t.done()]

    async def _run(self, job_id: str) -> None:
        job = await asyncio.to_thread(self.store.get, job_id)
        if job is None or job["status"] not in UNFINISHED:
            return
        try:
            req = job["request"]
            ops = [OperationSpec.model_validate(o) for o in req["operations"]]
            done = {i for i, r in enumerate(job["results"] or []) if r is not None}
            await asyncio.to_thread(self.store.set_status, job_id, "running")
            ctx = job_context(self.settings, job["tenant_id"], job_id)

            async def on_result(i: int, result: dict[str, Any]) -> None:
                await asyncio.to_thread(self.store.record, job_id, i, result)

            await run_batch_async(
                ops, ctx, parallel=req.get("parallel", True), on_result=on_result, skip=done
            )
            await asyncio.to_thread(self.store.finish, job_id)
        except Exception as exc:  # keep the actor alive; the job says what happened
            log.exception("pro job %s failed", job_id)
            await asyncio.to_thread(
                self.store.set_status, job_id, "failed", f"{type(exc).__name__}: {exc}"
            )


def job_runner(settings: Settings, name: str = "pro_video_jobs") -> ray.actor.ActorHandle:
    """The named, detached job runner of the settings' namespace (started if absent)."""
    return ProJobRunner.options(
        name=name, namespace=settings.ray.namespace, lifetime="detached", get_if_exists=True
    ).remote(settings.to_overrides())
