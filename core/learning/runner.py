"""Run one cycle in this process (the CLI without a cluster, jobs, tests): start it in the
database (one running cycle per tenant, whoever starts it), run the loops, return the result."""

from __future__ import annotations

import uuid
from typing import Any

from core.db import learning as repo
from core.db.engine import Database
from core.execution.config import ExecutorConfig
from core.execution.platforms import PlatformRegistry
from core.learning.config import LearningConfig
from core.learning.context import CycleContext, CycleHooks, PlatformFor
from core.learning.cycle import cycle_result, run_cycle
from core.platforms.config import PlatformsConfig
from core.settings import Settings


def run_here(
    settings: Settings,
    db: Database,
    *,
    tenant_id: str,
    trigger: str,
    requested_by: str | None = None,
    platform_for: PlatformFor | None = None,
    hooks: CycleHooks | None = None,
) -> dict[str, Any]:
    """Run a cycle now; its result. Raises ``repo.CycleRunning`` when one is running."""
    owner = f"{trigger}-{uuid.uuid4().hex[:12]}"
    with db.session() as s:
        cycle_id = repo.start_cycle(
            s, tenant_id=tenant_id, trigger=trigger, owner=owner, requested_by=requested_by
        ).cycle_id
    ctx = CycleContext(
        db=db,
        settings=settings,
        config=LearningConfig.load(),
        tenant_id=tenant_id,
        cycle_id=cycle_id,
        platform_for=platform_for
        or PlatformRegistry(ExecutorConfig.load(), PlatformsConfig.load()),
        hooks=hooks or CycleHooks(),
    )
    try:
        run_cycle(ctx, owner=owner)
    except BaseException as exc:
        with db.session() as s:
            repo.finish_cycle(
                s,
                cycle_id,
                owner=owner,
                status="failed",
                steps=[],
                error=f"{type(exc).__name__}: {exc}",
                now=ctx.wall_clock(),
            )
        raise
    with db.session() as s:
        return cycle_result(repo.get_cycle(s, tenant_id=tenant_id, cycle_id=cycle_id))
