"""Changes applied per second by the safe executor against the fake Graph API (caps off).

Same run, alternating order each round: one executor with the Graph batch path, one executor
sending one request per change, and two executors (threads of one process, each its own
worker) with the batch path. Each round queues ``--changes`` fresh budget changes (one per ad
set, no delay, dry run off, caps wide open) on PostgreSQL and times until all are applied;
the figures are medians over ``--rounds``. Each change costs a read of the ad set (two Graph
GETs) as well as the write, so the batch path saves only the writes' round trips.
Writes ``benchmarks/results/executor.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import write_result  # noqa: E402
from core.db.engine import Database  # noqa: E402
from core.db.migrate import prepare  # noqa: E402
from core.settings import Settings  # noqa: E402
from tests.support import postgres  # noqa: E402
from tests.support.executor_world import (  # noqa: E402
    TOKEN,
    World,
    drain,
    executor_config,
    make_executor,
    policy,
    queue_budgets,
)
from tests.support.fake_graph import FakeGraph  # noqa: E402

CAPS_OFF = {
    "max_change_pct": 0.99,
    "max_velocity_pct": 0.99,
    "max_actions_per_campaign": 1_000_000,
    "min_budget_minor": 1,
}
VARIANTS = {
    "one_executor_batch": (1, True),
    "one_executor_per_request": (1, False),
    "two_executors_batch": (2, True),
}


def one_round(db: Database, fake: FakeGraph, n: int, executors: int, batch: bool) -> float:
    world = World.build(fake, max(n // 50, 1), 50)
    pol = policy(**CAPS_OFF)
    queue_budgets(db, world, pol, pct=0.1)
    cfg = executor_config(graph_batch=batch)
    workers = [make_executor(db, fake, f"w{i}", pol, cfg) for i in range(executors)]
    start = time.perf_counter()
    threads = [threading.Thread(target=drain, args=([w],)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    applied = sum(w.processed["applied"] for w in workers)
    assert applied == n, f"applied {applied} of {n}"
    return n / elapsed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        url, throwaway = postgres.server_url()
        if throwaway:
            url = stack.enter_context(postgres.throwaway_server())
        schema_url, schema = postgres.new_schema(url)
        stack.callback(postgres.drop_schema, url, schema)
        settings = Settings.load(database_url=schema_url)
        db = Database(settings.db_url, pool_size=8)
        stack.callback(db.dispose)
        prepare(db, settings)
        fake = stack.enter_context(FakeGraph(token=TOKEN))
        per_s: dict[str, list[float]] = {k: [] for k in VARIANTS}
        order = list(VARIANTS)
        for r in range(args.rounds):
            for name in order if r % 2 == 0 else order[::-1]:
                per_s[name].append(one_round(db, fake, args.changes, *VARIANTS[name]))
                print(f"round {r + 1} {name}: {per_s[name][-1]:.1f} changes/s", flush=True)
    med = {k: statistics.median(v) for k, v in per_s.items()}
    result = {
        "benchmark": "safe executor, changes applied per second against the fake Graph API",
        "ratio": med["one_executor_batch"] / med["one_executor_per_request"],
        "applied_per_s": med["one_executor_batch"],
        "two_executors_per_s": med["two_executors_batch"],
        "two_vs_one": med["two_executors_batch"] / med["one_executor_batch"],
        "targets": {"ratio": 1.2, "applied_per_s": 50.0},
        "setup": {
            "changes_per_round": args.changes,
            "rounds": args.rounds,
            "statistic": "median over rounds, changes applied per second",
            "database": "postgresql",
            "caps": CAPS_OFF,
            "batch_size": executor_config().batch_size,
            "headline": "ratio = batch path / one request per change, one executor",
        },
        "raw": per_s,
    }
    result["met"] = {
        "ratio": result["ratio"] >= 1.2,
        "applied_per_s": result["applied_per_s"] >= 50.0,
    }
    path = write_result("executor", result)
    print(f"wrote {path}: {med}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
