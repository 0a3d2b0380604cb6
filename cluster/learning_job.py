"""Job entry point: ``ray job submit -- python -m cluster.learning_job [--tenant T]``.

Connects to the cluster it runs on (``RAY_ADDRESS``, set by ``ray job submit``; else a local
instance), asks the ``learning_orchestrator`` actor (started from the catalogue if absent) to
run one cycle, waits for it and prints the cycle's result as one JSON line prefixed
``RESULT ``. Exit codes (``core.job_entry``): 0 completed, 3 partial, 1 failed,
4 a cycle of the tenant was already running (``status: already_running`` and its id).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import ray

from actors import catalogue
from core.db.migrate import prepare_database
from core.job_entry import JobArgumentParser, run_job
from core.logs import configure_logging
from core.settings import Settings


def cycle(argv: list[str] | None) -> dict[str, Any]:
    parser = JobArgumentParser(prog="python -m cluster.learning_job", description=__doc__)
    parser.add_argument("--tenant", default=None, help="Tenant (default: settings tenant_id).")
    args = parser.parse_args(argv)
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
    if "status" not in result:  # not started: the tenant's running cycle
        return {"status": "already_running", "cycle_id": result.get("cycle_id")}
    return result


def main(argv: list[str] | None = None) -> int:
    configure_logging("INFO")
    return run_job(lambda: cycle(argv))


if __name__ == "__main__":
    sys.exit(main())
