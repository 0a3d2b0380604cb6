"""Run one operation end to end: validate, confine paths, probe, run; never raise."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.video.assets import check_not_foreign, parse_ref
from core.video.config import VideoConfig, get_video_config
from core.video.errors import VideoError
from core.video.io import codec_threads, probe, use_gpu
from core.video.ops.base import OpConfig, OpContext
from core.video.registry import canonical_type, get_operation, parse_config
from core.video.safety import MediaRoots, new_output_dir, resolve_input, resolve_inside

log = logging.getLogger(__name__)


class OperationResult(BaseModel):
    """One operation's outcome (SPEC §2: ``status``, ``operation``, outputs or ``error``)."""

    status: Literal["success", "failed"]
    operation: str
    video_path: str
    output_path: str | None = None
    outputs: list[str] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    elapsed_s: float = 0.0
    node_id: str | None = None

    @classmethod
    def failed(
        cls, op_type: str, video_path: str, error: str, elapsed_s: float = 0.0
    ) -> OperationResult:
        return cls(
            status="failed",
            operation=op_type,
            video_path=video_path,
            error=error,
            elapsed_s=round(elapsed_s, 4),
        )


def validate_operation(
    op_type: str,
    video_path: str,
    config: dict[str, Any] | None,
    roots: MediaRoots,
    tenant: str = "default",
) -> tuple[OpConfig, Path]:
    """Static checks (type, config, path confinement of ``video_path`` — the media root, or
    the tenant's own outputs — and of the files the config names, no other tenant's assets);
    raises a :class:`VideoError`."""
    cfg = parse_config(op_type, config)
    path = resolve_input(roots, video_path, tenant)
    check_not_foreign(roots.media_root, path, tenant, field="video_path")
    for field, other in cfg.media_paths():
        if not isinstance(other, str) or parse_ref(other) is not None:
            continue  # an asset reference: resolved in the caller's own library
        other_path = resolve_inside(roots.media_root, other, field=field)
        check_not_foreign(roots.media_root, other_path, tenant, field=field)
    return cfg, path


def run_operation(
    op_type: str,
    video_path: str,
    config: dict[str, Any] | None,
    *,
    roots: MediaRoots,
    output_dir: Path | None = None,
    feature_dim: int = 16,
    video_config: VideoConfig | None = None,
    gpu: bool = False,
    tenant: str = "default",
) -> OperationResult:
    """Run ``op_type`` on ``video_path`` (relative to the media root, or absolute inside it or
    inside the tenant's own output folder).

    Outputs go to ``output_dir`` (default: a fresh folder under the output root). ``gpu``:
    this process holds an NVIDIA GPU, so H.264 is decoded and encoded there when the codecs
    open (``gpu_codecs`` in the YAML). ``tenant``: whose assets the config may reference.
    Every problem becomes a ``failed`` result with a clear message.
    """
    vc = video_config or get_video_config()
    op_type = canonical_type(op_type)
    t0 = time.perf_counter()
    try:
        cfg, path = validate_operation(op_type, video_path, config, roots, tenant)
        info = probe(path, vc.limits)
        out_dir = output_dir or new_output_dir(roots.output_root, op_type)
        out_dir.mkdir(parents=True, exist_ok=True)
        ctx = OpContext(
            info=info,
            output_dir=out_dir,
            video_config=vc,
            media_root=roots.media_root,
            feature_dim=feature_dim,
            tenant=tenant,
        )
        token = codec_threads.set(vc.encoding.decode_threads)
        gpu_token = use_gpu.set(gpu)
        try:
            result = get_operation(op_type).run(ctx, cfg)
        finally:
            use_gpu.reset(gpu_token)
            codec_threads.reset(token)
    except VideoError as exc:
        return OperationResult.failed(op_type, video_path, str(exc), time.perf_counter() - t0)
    except Exception as exc:  # one bad input must not take a batch down
        log.exception("video operation %s failed on %s", op_type, video_path)
        return OperationResult.failed(
            op_type,
            video_path,
            f"operation error: {type(exc).__name__}: {exc}",
            time.perf_counter() - t0,
        )
    return OperationResult(
        status="success",
        operation=op_type,
        video_path=video_path,
        output_path=result.outputs[0] if result.outputs else None,
        outputs=result.outputs,
        data=result.data,
        elapsed_s=round(time.perf_counter() - t0, 4),
    )
