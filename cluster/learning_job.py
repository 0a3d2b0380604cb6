"""Job entry point: ``ray job submit -- python -m cluster.learning_job [--tenant T]``.

Connects to the cluster it runs on (``RAY_ADDRESS``, set by ``ray job submit``; else a local
instance), asks the ``learning_orchestrator`` actor (started from the catalogue if absent) to
run one cycle, waits for it and prints the result as one JSON line prefixed ``RESULT ``.
Exit status: 0 completed, 3 partial, 1 failed, 4 a cycle was already running.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import ray

from actors import catalogue
from core.db.migrate import prepare_database
from core.logs import configure_logging
from core.settings import Settings

EXIT = {"completed": 0, "partial": 3, "failed": 1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.learning_job", description=__doc__)
    parser.add_argument("--tenant", default=None, help="Tenant (default: settings tenant_id).")
    args = parser.parse_args(argv)
    configure_logging("INFO")
    settings = Settings.load()
    prepare_database(settings)
    if not ray.is_initialized():
        ray.init(
            address=os.environ.get("RAY_ADDRESS") or "local",
            namespace=settings.ray.namespace,
            log_to_driver=False,
        )
    handle = catalogue.get("learning_orchestrator", settings)
    result = ray.get(handle.run_now.remote(args.tenant or settings.tenant_id, "job"))
    print("RESULT " + json.dumps(result, default=str), flush=True)
    if "status" not in result:
        return 4
    return EXIT.get(result["status"], 1)


if __name__ == "__main__":
    sys.exit(main())
