"""Batches of operations on Ray: parallel (all submitted at once) or in order.

One failing operation never fails the others: every result is a per-operation dict with
``status`` success/failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import ray
from pydantic import BaseModel, Field, ValidationError, field_validator

from core.video import MediaRoots, VideoError, canonical_type, validate_operation
from serve_apps.video.tasks import RunContext, cluster_has_gpu, crashed, submit


class OperationSpec(BaseModel):
    """One requested operation (SPEC §2): ``type``, ``video_path``, ``config``."""

    type: str = Field(..., min_length=1, max_length=64)
    video_path: str = Field(..., min_length=1, max_length=1024)
    config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _canonical(cls, v: str) -> str:
        return canonical_type(v)  # "color-grade" is "color_grade"


class BatchResult(BaseModel):
    """SPEC §2 batch answer."""

    status: str
    results: list[dict[str, Any]]
    total: int
    successful: int


def parse_batch(raw: Any) -> tuple[list[OperationSpec], bool]:
    """Operations and ``parallel`` of a batch: the SPEC §2 body (``{"operations": [...],
    "parallel": true}``) or a bare list; ``ValueError`` naming the first bad operation."""
    body = {"operations": raw} if isinstance(raw, list) else raw
    if not isinstance(body, dict) or not isinstance(body.get("operations", []), list):
        raise ValueError('expected {"operations": [...], "parallel": true} or a list')
    try:
        ops = [OperationSpec.model_validate(o) for o in body.get("operations", [])]
    except ValidationError as exc:
        raise ValueError(f"invalid operation: {exc}") from exc
    if not ops:
        raise ValueError("no operations")
    return ops, bool(body.get("parallel", True))


def batch_problems(
    ops: Sequence[OperationSpec], roots: MediaRoots, tenant: str = "default"
) -> list[str]:
    """Static problems of each operation (type, config, path confinement), as ``#i type: …``."""
    problems = []
    for i, op in enumerate(ops):
        try:
            validate_operation(op.type, op.video_path, op.config, roots, tenant)
        except VideoError as exc:
            problems.append(f"#{i} {op.type}: {exc}")
    return problems


def batch_status(results: Sequence[dict[str, Any]]) -> str:
    """``completed`` (all succeeded), ``partial`` or ``failed`` (none succeeded)."""
    ok = sum(r["status"] == "success" for r in results)
    return "completed" if ok == len(results) else ("failed" if ok == 0 else "partial")


def summarise(results: list[dict[str, Any]]) -> BatchResult:
    return BatchResult(
        status=batch_status(results),
        results=results,
        total=len(results),
        successful=sum(r["status"] == "success" for r in results),
    )


OnResult = Callable[[int, dict[str, Any]], Awaitable[None] | None]


async def _await(ref: ray.ObjectRef, op: OperationSpec) -> dict[str, Any]:
    try:
        return await ref
    except (ray.exceptions.RayError, OSError) as exc:
        return crashed(op.type, op.video_path, exc)


async def run_batch_async(
    ops: Sequence[OperationSpec],
    ctx: RunContext,
    *,
    parallel: bool = True,
    on_result: OnResult | None = None,
    skip: set[int] | None = None,
) -> dict[int, dict[str, Any]]:
    """Run ``ops`` (except indices in ``skip``); ``on_result(index, result)`` as each ends."""
    has_gpu = cluster_has_gpu()
    todo = [i for i in range(len(ops)) if i not in (skip or set())]
    results: dict[int, dict[str, Any]] = {}

    async def one(i: int, ref: ray.ObjectRef) -> None:
        results[i] = await _await(ref, ops[i])
        if on_result is not None:
            maybe = on_result(i, results[i])
            if asyncio.iscoroutine(maybe):
                await maybe

    if parallel:
        refs = {
            i: submit(ops[i].type, ops[i].video_path, ops[i].config, ctx, i, has_gpu=has_gpu)
            for i in todo
        }
        await asyncio.gather(*(one(i, ref) for i, ref in refs.items()))
    else:
        for i in todo:
            await one(
                i, submit(ops[i].type, ops[i].video_path, ops[i].config, ctx, i, has_gpu=has_gpu)
            )
    return results


async def run_batch(
    ops: Sequence[OperationSpec],
    ctx: RunContext,
    *,
    parallel: bool = True,
    on_result: OnResult | None = None,
) -> BatchResult:
    """Run a whole batch and answer in request order."""
    done = await run_batch_async(ops, ctx, parallel=parallel, on_result=on_result)
    return summarise([done[i] for i in range(len(ops))])


def run_batch_sync(
    ops: Sequence[OperationSpec],
    ctx: RunContext,
    *,
    parallel: bool = True,
    on_result: Callable[[int, dict[str, Any]], None] | None = None,
) -> BatchResult:
    """Blocking variant for the CLI and benchmarks (uses ``ray.wait``)."""
    has_gpu = cluster_has_gpu()
    results: dict[int, dict[str, Any]] = {}

    def collect(i: int, ref: ray.ObjectRef) -> None:
        try:
            results[i] = ray.get(ref)
        except ray.exceptions.RayError as exc:
            results[i] = crashed(ops[i].type, ops[i].video_path, exc)
        if on_result is not None:
            on_result(i, results[i])

    if parallel:
        refs = {
            submit(op.type, op.video_path, op.config, ctx, i, has_gpu=has_gpu): i
            for i, op in enumerate(ops)
        }
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            collect(refs[ready[0]], ready[0])
    else:
        for i, op in enumerate(ops):
            collect(i, submit(op.type, op.video_path, op.config, ctx, i, has_gpu=has_gpu))
    return summarise([results[i] for i in range(len(ops))])
