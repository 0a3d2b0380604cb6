"""Background pro video batches: the job runner actor over ``core.db.pro_jobs``."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from core.db.engine import Database
from core.db.pro_jobs import UNFINISHED, JobStore
from core.settings import Settings
from core.video import MediaRoots
from core.video.safety import safe_component
from serve_apps.video.batch import OperationSpec, batch_status, run_batch_async
from serve_apps.video.tasks import RunContext
from serve_apps.video.variants import RequestError, VariantsIn, generate, ray_runner

log = logging.getLogger("adcluster.pro_jobs")


def job_context(settings: Settings, tenant_id: str, job_id: str) -> RunContext:
    roots = MediaRoots.from_settings(settings)
    return RunContext(
        roots=roots,
        output_dir=Path(roots.output_root) / safe_component(tenant_id) / job_id,
        feature_dim=settings.memory.video_dim,
        tenant=tenant_id,
    )


class ProJobRunner:
    """Catalogue actor ``pro_video_jobs``: runs queued pro jobs; on (re)start (its first
    ``ping``, which ``adcluster up`` sends) it resumes every unfinished job, re-running only the
    operations that have no stored result yet."""

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
            if req.get("kind") == "variants":
                await self._run_variants(job_id, job)
                return
            ops = [OperationSpec.model_validate(o) for o in req["operations"]]
            done = {i for i, r in enumerate(job["results"] or []) if r is not None}
            await asyncio.to_thread(self.store.set_status, job_id, "running")
            ctx = job_context(self.settings, job["tenant_id"], job_id)

            async def on_result(i: int, result: dict[str, Any]) -> None:
                await asyncio.to_thread(self.store.record, job_id, i, result)

            await run_batch_async(
                ops, ctx, parallel=req.get("parallel", True), on_result=on_result, skip=done
            )
            await asyncio.to_thread(self.store.finish, job_id, batch_status)
        except Exception as exc:  # keep the actor alive; the job says what happened
            log.exception("pro job %s failed", job_id)
            await asyncio.to_thread(
                self.store.set_status, job_id, "failed", f"{type(exc).__name__}: {exc}"
            )

    async def _run_variants(self, job_id: str, job: dict[str, Any]) -> None:
        """A variants job (``POST /api/pro/variants`` in the background): result ``i`` is
        variant ``i``. Restarted, it runs again from the start (the same plans register the
        same ad ids)."""
        from actors import catalogue

        tenant = job["tenant_id"]
        body = VariantsIn.model_validate(job["request"]["body"])
        await asyncio.to_thread(self.store.set_status, job_id, "running")
        sampler = catalogue.get("thompson_sampler", self.settings)

        async def call(method: str, *args: Any, **kwargs: Any) -> Any:
            return await getattr(sampler, method).remote(*args, **kwargs)

        async def on_variant(i: int, result: dict[str, Any]) -> None:
            await asyncio.to_thread(self.store.record, job_id, i, result)

        roots = MediaRoots.from_settings(self.settings)
        try:
            await generate(
                body,
                tenant=tenant,
                db=self.store.db,
                settings=self.settings,
                runner=ray_runner(roots, tenant=tenant, feature_dim=self.settings.memory.video_dim),
                sampler=call,
                run_id=job_id,
                on_variant=on_variant,
            )
        except RequestError as exc:
            await asyncio.to_thread(self.store.set_status, job_id, "failed", exc.message)
            return
        await asyncio.to_thread(self.store.finish, job_id, batch_status)
