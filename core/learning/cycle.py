"""One self-learning cycle (SPEC §4): the seven loops in order, each recorded.

A loop returns its counts, raises :class:`~core.learning.context.Skipped` (status
``skipped`` with the reason) or fails (status ``failed`` with the error); a failing loop does
not stop the next. The cycle is ``completed`` when no loop failed, ``partial`` when some did
and ``failed`` when all did. Progress is written after every loop, which is also the cycle's
heartbeat.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from typing import Any

from core.db import learning as repo
from core.learning.context import CycleContext, Skipped
from core.learning.loops import (
    actuals,
    analytics,
    auto_promoter,
    compound,
    thompson_update,
    winner_refresh,
)

log = logging.getLogger("adcluster.learning")
Loop = Callable[[CycleContext], dict[str, Any]]

LOOPS: tuple[tuple[str, Loop], ...] = (
    ("winner_refresh", winner_refresh.run),
    ("thompson_update", thompson_update.run),
    ("cross_learning", analytics.cross_learning),
    ("creative_dna", analytics.creative_dna),
    ("compound_learning", compound.run),
    ("actuals_fetch", actuals.run),
    ("auto_promotion", auto_promoter.run),
)
STEP_NAMES = tuple(name for name, _ in LOOPS)


def cycle_status(steps: list[dict[str, Any]]) -> str:
    failed = sum(s["status"] == "failed" for s in steps)
    if failed == 0:
        return "completed"
    return "failed" if failed == len(steps) else "partial"


def run_step(ctx: CycleContext, name: str, loop: Loop) -> dict[str, Any]:
    """Run one loop; its step record."""
    t0 = time.perf_counter()
    step: dict[str, Any] = {"name": name}
    try:
        counts = loop(ctx)
        step.update(status="completed", counts=counts)
    except Skipped as skip:
        step.update(status="skipped", counts=dict(skip.counts), reason=skip.reason)
    except Exception as exc:  # one loop failing must not stop the others
        log.warning(
            "learning loop failed",
            extra={"cycle_id": ctx.cycle_id, "loop": name, "error": repr(exc)},
        )
        step.update(
            status="failed",
            counts={},
            error=f"{type(exc).__name__}: {exc}",
            trace=traceback.format_exc(limit=3)[-2000:],
        )
    step["duration_seconds"] = round(time.perf_counter() - t0, 4)
    return step


def run_cycle(
    ctx: CycleContext,
    *,
    owner: str,
    loops: tuple[tuple[str, Loop], ...] = LOOPS,
    between: Callable[[str], None] | None = None,
) -> str:
    """Run the loops of the started cycle ``ctx.cycle_id``; its final status.

    ``between``: called with each loop's name before it runs (tests: crash points).
    """
    steps: list[dict[str, Any]] = []
    for name, loop in loops:
        if between is not None:
            between(name)
        steps.append(run_step(ctx, name, loop))
        with ctx.db.session() as s:
            if not repo.record_steps(
                s, ctx.cycle_id, owner=owner, steps=steps, now=ctx.wall_clock()
            ):
                log.warning("cycle taken away mid-run", extra={"cycle_id": ctx.cycle_id})
                return "failed"
    status = cycle_status(steps)
    with ctx.db.session() as s:
        repo.finish_cycle(
            s,
            ctx.cycle_id,
            owner=owner,
            status=status,
            steps=steps,
            error=None if status == "completed" else "some loops failed",
            now=ctx.wall_clock(),
        )
    log.info(
        "learning cycle finished",
        extra={"cycle_id": ctx.cycle_id, "tenant_id": ctx.tenant_id, "status": status},
    )
    return status


def cycle_result(row: Any) -> dict[str, Any]:
    """The SPEC §4 shape of a stored cycle."""
    return {
        "cycle_id": row.cycle_id,
        "tenant_id": row.tenant_id,
        "trigger": row.trigger,
        "status": row.status,
        "cycle_started_at": row.started_at.isoformat(),
        "cycle_completed_at": row.completed_at.isoformat() if row.completed_at else None,
        "duration_seconds": row.duration_s,
        "error": row.error,
        "steps": [{k: v for k, v in step.items() if k != "trace"} for step in (row.steps or [])],
    }
