"""Job entry point: ``ray job submit -- python -m cluster.video_job BATCH.json [--tenant T]``.

Runs a batch of pro video operations (the body of ``POST /api/pro/batch``:
``{"operations": [{"type", "video_path", "config"}, ...], "parallel": true}``, or a bare list)
as Ray tasks through ``serve_apps.video.batch`` (GPU-capable operations on GPU nodes when the
cluster has them). Paths are relative to the media root (``media.media_root``, shared
storage on a cluster) or inside the tenant's own outputs; outputs go to the tenant's folder,
``<output_root>/<tenant>/jobs/<run id>/``, as the API's runs do. Every operation is
checked before any runs. Prints one ``RESULT `` line (the batch answer of SPEC §2 plus
``run_id`` and ``output_dir``; each result names the node it ran on). Exit codes
(``core.job_entry``): 0 all succeeded, 3 some failed, 1 all failed, 2 a bad batch file.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from cluster import runtime
from core.job_entry import JobArgumentParser, JobInputError, run_job
from core.logs import configure_logging
from core.settings import Settings
from core.video import MediaRoots
from core.video.safety import own_outputs
from serve_apps.video.batch import batch_problems, parse_batch, run_batch_sync
from serve_apps.video.tasks import RunContext


def run_batch_file(argv: list[str] | None) -> dict[str, Any]:
    parser = JobArgumentParser(prog="python -m cluster.video_job", description=__doc__)
    parser.add_argument("file", type=Path, help="Batch JSON file.")
    parser.add_argument("--tenant", default=None, help="Whose assets configs may reference.")
    parser.add_argument("--sequential", action="store_true", help="One operation at a time.")
    args = parser.parse_args(argv)
    settings = Settings.load()
    tenant = args.tenant or settings.tenant_id
    try:
        ops, parallel = parse_batch(json.loads(args.file.read_text()))
    except (OSError, json.JSONDecodeError, ValueError) as exc:
        raise JobInputError(f"{args.file}: {exc}") from exc
    roots = MediaRoots.from_settings(settings)
    problems = batch_problems(ops, roots, tenant)
    if problems:
        raise JobInputError(f"{len(problems)} invalid operation(s); nothing ran", problems)
    runtime.connect(settings, os.environ.get("RAY_ADDRESS") or "local")
    run_id = uuid.uuid4().hex[:12]
    ctx = RunContext(
        roots=roots,
        output_dir=own_outputs(roots, tenant) / "jobs" / run_id,
        feature_dim=settings.memory.video_dim,
        tenant=tenant,
    )
    batch = run_batch_sync(ops, ctx, parallel=parallel and not args.sequential)
    return {"run_id": run_id, "output_dir": str(ctx.output_dir), **batch.model_dump(mode="json")}


def main(argv: list[str] | None = None) -> int:
    configure_logging("INFO")
    return run_job(lambda: run_batch_file(argv))


if __name__ == "__main__":
    sys.exit(main())
