"""CTR scoring with @serve.batch vs one model call per prediction; Tune trials parallel vs serial.

* ``tune_parallel_vs_sequential``: the same 8 trials (same sampled configurations, no early
  stopping so both sides do the same work) with ``max_concurrent_trials`` 2 vs 1 on this
  2-core machine (target >= 1.6x).
* ``ratio`` (headline): CTR predictions per second through the CtrModel deployment with 64
  concurrent clients sending one creative per request: ``@serve.batch`` with
  ``max_batch_size`` 64 vs 1 (one model call per prediction), target >= 3x.

Usage: ``python benchmarks/training.py [--seconds 6] [--rows 20000]``.
Writes ``benchmarks/results/training.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402
from ray import serve  # noqa: E402

from benchmarks.common import write_result  # noqa: E402
from cluster import serve_mode  # noqa: E402
from core.db.engine import Database  # noqa: E402
from core.db.migrate import prepare  # noqa: E402
from core.ml import registry  # noqa: E402
from core.ml.config import training_config  # noqa: E402
from core.ml.dataset import build_table, time_split  # noqa: E402
from core.ml.model import fit, task_data  # noqa: E402
from core.settings import Settings  # noqa: E402
from serve_apps.ctr.deployment import CtrModel  # noqa: E402
from training import tune as tune_search  # noqa: E402
from training.synthetic import synthetic_ads  # noqa: E402

CLIENTS = 64
TUNE_ROUNDS, TUNE_STEP = 1200, 300  # trials long enough that worker start-up is not the story
CREATIVE = {
    "video_features": [0.3] * 16,
    "hook_text": "Why 3 tips?",
    "cta": "Shop now",
    "template": "ugc",
}


def tune_round(split: Any, cfg: Any, tmp: Path, concurrent: int, name: str) -> float:
    steps = TUNE_ROUNDS // TUNE_STEP
    config = cfg.tune.model_copy(
        update={
            "num_samples": 8,
            "max_concurrent_trials": concurrent,
            "grace_period": steps,
            "max_rounds": TUNE_ROUNDS,
            "rounds_per_report": TUNE_STEP,
        }
    )
    t0 = time.perf_counter()
    tune_search.search(
        kind="ctr", train=split[0], valid=split[1], config=config, storage=tmp / "tune", name=name
    )
    return time.perf_counter() - t0


async def _load(handle: Any, tenant: str, seconds: float) -> float:
    done = 0
    stop = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await handle.predict.remote(tenant, [CREATIVE])
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return done / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="adc-bench-train-"))
    settings = Settings.load(data_dir=str(tmp))
    db = Database(settings.db_url)
    prepare(db, settings)
    cfg = training_config()
    table = build_table(synthetic_ads(args.rows, seed=1), cfg.features, min_impressions=100)
    split = time_split(table, cfg.dataset)
    train, valid, test = (
        task_data("ctr", t, cfg.features) for t in (split.train, split.valid, split.test)
    )
    # As `adcluster up` starts Ray: workers at the configured niceness (settings http:), not
    # Ray's default nice 15, which hands the cores to any other process on the machine.
    serve_mode.apply(settings.http)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    load_before = os.getloadavg()

    # Tune: interleaved rounds, sequential then parallel.
    seq, par = [], []
    for i in range(args.rounds):
        seq.append(tune_round((train, valid), cfg, tmp, 1, f"seq-{i}"))
        par.append(tune_round((train, valid), cfg, tmp, 2, f"par-{i}"))
    tune_speedup = statistics.median(seq) / statistics.median(par)

    # Serving: one champion, two deployments of the same class.
    model = fit(
        train,
        {
            "eta": 0.1,
            "max_depth": 6,
            "min_child_weight": 1.0,
            "subsample": 0.9,
            "colsample_bytree": 0.9,
            "lambda": 1.0,
        },
        rounds=200,
        features=cfg.features,
    )
    registry.evaluate_and_register(
        db,
        settings,
        cfg,
        tenant_id="default",
        kind="ctr",
        model=model,
        holdout=test,
        dataset_version=None,
        run_id=None,
    )
    per_prediction_ms = {}
    for n in (1, CLIENTS):
        rows = [CREATIVE] * n
        t0 = time.perf_counter()
        for _ in range(200):
            model.predict(rows)
        per_prediction_ms[n] = (time.perf_counter() - t0) / 200 / n * 1000
    dump = settings.to_overrides()
    handles = {}
    for name, size, wait in (("batched", 64, 0.002), ("single", 1, 0.0)):
        app = CtrModel.options(
            name=f"Ctr_{name}",
            max_ongoing_requests=256,
            user_config={
                "max_batch_size": size,
                "batch_wait_timeout_s": wait,
                "champion_poll_s": 60.0,
            },
            ray_actor_options={"num_cpus": 0},
        ).bind(dump)
        handles[name] = serve.run(app, name=f"ctr_{name}", route_prefix=None)
    for h in handles.values():
        asyncio.run(_load(h, "default", 1.0))  # warm up: model loaded, connections open
    rates: dict[str, list[float]] = {"batched": [], "single": []}
    for _ in range(args.rounds):
        for name in ("single", "batched"):
            rates[name].append(asyncio.run(_load(handles[name], "default", args.seconds)))
    ratio = statistics.median(rates["batched"]) / statistics.median(rates["single"])
    serve.shutdown()
    ray.shutdown()
    result = {
        "ratio": round(ratio, 3),
        "tune_parallel_vs_sequential": round(tune_speedup, 3),
        "targets": {"ratio": 3.0, "tune_parallel_vs_sequential": 1.6},
        "method": "sides interleaved in one run; medians over rounds of each side",
        "ray_worker_niceness": settings.http.worker_niceness,
        "load_average_before": [round(x, 2) for x in load_before],
        "tune": {
            "trials": 8,
            "rows": {k: v for k, v in split.sizes().items()},
            "max_rounds": TUNE_ROUNDS,
            "early_stopping": "off (same work)",
            "sequential_s": [round(x, 2) for x in seq],
            "parallel_s": [round(x, 2) for x in par],
        },
        "serving": {
            "clients": CLIENTS,
            "creatives_per_request": 1,
            "model": "200 trees, depth 6",
            "path": "DeploymentHandle from the driver (no HTTP)",
            "batched_per_s": [round(x, 1) for x in rates["batched"]],
            "single_per_s": [round(x, 1) for x in rates["single"]],
        },
        "model_call_only": {
            "ms_per_prediction_one_per_call": round(per_prediction_ms[1], 4),
            f"ms_per_prediction_{CLIENTS}_per_call": round(per_prediction_ms[CLIENTS], 4),
            "ratio": round(per_prediction_ms[1] / per_prediction_ms[CLIENTS], 1),
            "note": "in-process, no Serve: what batching saves in the model call itself",
        },
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(write_result("training", result))
    db.dispose()


if __name__ == "__main__":
    main()
