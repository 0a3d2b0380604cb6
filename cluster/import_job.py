"""Job entry point: ``ray job submit -- python -m cluster.import_job FILE [--tenant T]``.

Imports historical ads and performance metrics from a CSV or Parquet file
(``cluster.history_import``: columns, rules, idempotency) and prints one ``RESULT `` line:
rows read, inserted, skipped as already stored, ads created and updated, winner rows and
ads, and the ids of the indexing jobs the winner trigger queued. Exit codes
(``core.job_entry``): 0 imported, 2 a bad file or arguments (nothing written), 1 an error.

On a cluster (``RAY_ADDRESS``, which ``ray job submit`` sets, or ``--address``) it then asks
the running Thompson sampler to refold its experiments from the new history and wakes the
job consumer; it starts no actor. Without a cluster it only writes the database (a sampler
started later reads the history when it starts).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from cluster.history_import import FORMATS, import_file
from core.db.migrate import prepare_database
from core.job_entry import JobArgumentParser, run_job
from core.logs import configure_logging
from core.settings import Settings


def notify_actors(settings: Settings, address: str) -> list[str]:
    """Tell the running sampler and job consumer (never starts them); what was told."""
    import ray

    from actors import catalogue
    from cluster import runtime

    runtime.connect(settings, address)
    told = []
    sampler = catalogue.lookup("thompson_sampler", settings)
    if sampler is not None:
        ray.get(sampler.rebuild.remote())
        told.append("thompson_sampler")
    consumer = catalogue.lookup("job_consumer", settings)
    if consumer is not None:
        ray.get(consumer.wake.remote())
        told.append("job_consumer")
    return told


def import_history(argv: list[str] | None) -> dict[str, Any]:
    parser = JobArgumentParser(prog="python -m cluster.import_job", description=__doc__)
    parser.add_argument("file", type=Path, help="CSV or Parquet file (see cluster/history_import).")
    parser.add_argument("--tenant", default=None, help="Tenant (default: settings tenant_id).")
    parser.add_argument("--format", choices=FORMATS, default="auto", help="Default: by suffix.")
    parser.add_argument(
        "--address", default=None, help="Ray cluster to notify (default: RAY_ADDRESS, if set)."
    )
    args = parser.parse_args(argv)
    settings = Settings.load()
    prepare_database(settings)
    result = import_file(
        settings, args.file, tenant_id=args.tenant or settings.tenant_id, fmt=args.format
    ).to_dict()
    address = args.address or os.environ.get("RAY_ADDRESS")
    result["notified"] = notify_actors(settings, address) if address else []
    return result


def main(argv: list[str] | None = None) -> int:
    configure_logging("INFO")
    return run_job(lambda: import_history(argv))


if __name__ == "__main__":
    sys.exit(main())
