"""Job entry point: ``ray job submit -- python -m training.run --kind ctr``.

Connects to the cluster it runs on (``RAY_ADDRESS``, set by ``ray job submit``; else a local
instance), trains challengers with Ray Tune, decides, and prints the result as one JSON line
prefixed ``RESULT `` (the last line of the job's logs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import ray

from core.db.migrate import prepare_database
from core.logs import configure_logging
from core.ml.config import TrainingConfig
from core.settings import Settings
from training.pipeline import SyntheticSpec, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.run", description=__doc__)
    parser.add_argument("--kind", choices=("ctr", "value"), default="ctr")
    parser.add_argument("--source", choices=("database", "synthetic"), default="database")
    parser.add_argument("--tenant", default=None, help="Tenant (default: settings tenant_id).")
    parser.add_argument("--rows", type=int, default=2000, help="Synthetic rows.")
    parser.add_argument("--seed", type=int, default=0, help="Synthetic data seed.")
    parser.add_argument("--num-samples", type=int, default=None, help="Overrides tune.num_samples.")
    parser.add_argument("--max-rounds", type=int, default=None, help="Overrides tune.max_rounds.")
    args = parser.parse_args(argv)
    configure_logging("INFO")
    settings = Settings.load()
    tune_overrides = {
        k: v
        for k, v in (("num_samples", args.num_samples), ("max_rounds", args.max_rounds))
        if v is not None
    }
    config = TrainingConfig.load(**({"tune": tune_overrides} if tune_overrides else {}))
    prepare_database(settings)
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS") or "local", log_to_driver=False)
    result = run(
        settings,
        config,
        tenant_id=args.tenant or settings.tenant_id,
        kind=args.kind,
        source=args.source,
        synthetic=SyntheticSpec(args.rows, args.seed),
    )
    print("RESULT " + json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
