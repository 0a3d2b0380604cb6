"""Each video operation as a Ray task with declared resources (``configs/video.yaml``).

GPU-capable operations ask for ``resources.gpu`` when the cluster has GPU nodes, so Ray
places them there; everything else (and everything on a CPU-only cluster) asks for
``resources.cpu``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from core.video import MediaRoots, OperationResult, VideoConfig, get_video_config, run_operation


@dataclass(frozen=True)
class RunContext:
    """Where a batch reads and writes, and the feature length; travels to every task."""

    roots: MediaRoots
    output_dir: Path
    feature_dim: int = 16
    tenant: str = "default"  # whose assets the operations' configs may reference

    def op_output_dir(self, index: int, op_type: str) -> Path:
        return self.output_dir / f"{index:03d}_{op_type}"


@ray.remote
def _operation_task(
    op_type: str, video_path: str, config: dict[str, Any], ctx: RunContext, index: int
) -> dict[str, Any]:
    """Run one operation in a worker; the result is a plain dict (never raises)."""
    vc = get_video_config()
    threads = max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 0)))
    vc = vc.model_copy(
        update={
            "encoding": vc.encoding.model_copy(
                update={"threads": threads, "decode_threads": threads}
            )
        }
    )
    result = run_operation(
        op_type,
        video_path,
        config,
        roots=ctx.roots,
        output_dir=ctx.op_output_dir(index, op_type),
        feature_dim=ctx.feature_dim,
        video_config=vc,
        gpu=bool(ray.get_gpu_ids()),  # NVDEC/NVENC where this task holds a GPU
        tenant=ctx.tenant,
    )
    result.node_id = ray.get_runtime_context().get_node_id()
    return result.model_dump(mode="json")


def cluster_has_gpu() -> bool:
    """Whether any node of the connected cluster declares GPUs."""
    return ray.cluster_resources().get("GPU", 0) > 0


def task_options(
    op_type: str, *, has_gpu: bool, video_config: VideoConfig | None = None
) -> dict[str, Any]:
    """Ray options of one operation's task."""
    vc = video_config or get_video_config()
    res = vc.resources.gpu if has_gpu and op_type in vc.gpu_capable else vc.resources.cpu
    opts: dict[str, Any] = {
        "num_cpus": res.num_cpus,
        "max_retries": vc.resources.max_retries,
        "retry_exceptions": False,
    }
    if res.num_gpus > 0:
        opts["num_gpus"] = res.num_gpus
    return opts


def submit(
    op_type: str,
    video_path: str,
    config: dict[str, Any] | None,
    ctx: RunContext,
    index: int = 0,
    *,
    has_gpu: bool | None = None,
) -> ray.ObjectRef:
    """Start one operation task; the ref resolves to an ``OperationResult`` dict."""
    gpu = cluster_has_gpu() if has_gpu is None else has_gpu
    return _operation_task.options(**task_options(op_type, has_gpu=gpu)).remote(
        op_type, video_path, config or {}, ctx, index
    )


def crashed(op_type: str, video_path: str, exc: BaseException) -> dict[str, Any]:
    """The result of a task whose worker died or could not be scheduled."""
    msg = f"worker error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return OperationResult.failed(op_type, video_path, msg).model_dump(mode="json")
