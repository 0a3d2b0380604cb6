"""Job entry point: ``ray job submit -- python -m training.run --kind ctr``.

Connects to the cluster it runs on (``RAY_ADDRESS``, set by ``ray job submit``; else a local
instance), trains challengers with Ray Tune (on GPU nodes when the cluster has them),
decides, and prints the result as one JSON line prefixed ``RESULT `` (``status``
``completed`` and the run's trials and decision). Exit codes: ``core.job_entry``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import ray

from core.db.migrate import prepare_database
from core.job_entry import JobArgumentParser, JobInputError, run_job
from core.logs import configure_logging
from core.ml.config import TrainingConfig
from core.settings import Settings
from training.pipeline import SyntheticSpec, run


def parser() -> JobArgumentParser:
    p = JobArgumentParser(prog="python -m training.run", description=__doc__)
    p.add_argument("--kind", choices=("ctr", "value"), default="ctr")
    p.add_argument("--source", choices=("database", "synthetic"), default="database")
    p.add_argument("--tenant", default=None, help="Tenant (default: settings tenant_id).")
    p.add_argument("--rows", type=int, default=2000, help="Synthetic rows.")
    p.add_argument("--seed", type=int, default=0, help="Synthetic data seed.")
    p.add_argument("--num-samples", type=int, default=None, help="Overrides tune.num_samples.")
    p.add_argument("--max-rounds", type=int, default=None, help="Overrides tune.max_rounds.")
    return p


def train(argv: list[str] | None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    if args.rows < 1:
        raise JobInputError(f"--rows must be at least 1, got {args.rows}")
    settings = Settings.load()
    tune_overrides = {
        k: v
        for k, v in (("num_samples", args.num_samples), ("max_rounds", args.max_rounds))
        if v is not None
    }
    config = TrainingConfig.load(**({"tune": tune_overrides} if tune_overrides else {}))
    prepare_database(settings)
    if not ray.is_initialized():
        ray.init(
            address=os.environ.get("RAY_ADDRESS") or "local",
            namespace=settings.ray.namespace,
            log_to_driver=False,
        )
    result = run(
        settings,
        config,
        tenant_id=args.tenant or settings.tenant_id,
        kind=args.kind,
        source=args.source,
        synthetic=SyntheticSpec(args.rows, args.seed),
    )
    return {"status": "completed", **result}


def main(argv: list[str] | None = None) -> int:
    configure_logging("INFO")
    return run_job(lambda: train(argv))


if __name__ == "__main__":
    sys.exit(main())
