"""CTR scoring over HTTP, batched vs a CtrModel call per request; Tune trials parallel vs serial.

* ``tune_parallel_vs_sequential``: the same 8 trials (same sampled configurations, no early
  stopping so both sides do the same work) with ``max_concurrent_trials`` 2 vs 1 on this
  2-core machine (target >= 1.6x).
* ``ratio`` (headline): ``POST /api/ml/predict/ctr`` through ``adcluster up``'s gateway
  (HAProxy, two Gateway replicas, the CtrModel, every prediction logged), wrk with 64
  connections, one creative a request: batched (each Gateway replica groups concurrent
  requests into one CtrModel call, the CtrModel's ``@serve.batch`` scores up to 64 in one
  model call) vs one call and one model call per request, switched live on the same
  replicas and interleaved; target >= 3x.
* ``serving.handle``: the same from 64 clients in the driver straight to the CtrModel's
  handle (no gateway), with a call that does nothing (``ping``) for Serve's per-call cost.

Usage: ``python benchmarks/training.py [--seconds 6] [--rows 20000]``.
Writes ``benchmarks/results/training.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402
from ray import serve  # noqa: E402

from benchmarks.common import write_result  # noqa: E402
from benchmarks.feedback import new_key  # noqa: E402
from benchmarks.gateway import (  # noqa: E402
    WRK_SCRIPT,
    find_wrk,
    free_port,
    run_wrk,
    set_user_config,
    summarise,
)
from cluster import (
    runtime,  # noqa: E402
    serve_mode,  # noqa: E402
)
from core.db.engine import Database  # noqa: E402
from core.db.migrate import prepare  # noqa: E402
from core.ml import registry  # noqa: E402
from core.ml.config import training_config  # noqa: E402
from core.ml.dataset import build_table, time_split  # noqa: E402
from core.ml.model import fit, task_data  # noqa: E402
from core.settings import Settings  # noqa: E402
from training import tune as tune_search  # noqa: E402
from training.synthetic import synthetic_ads  # noqa: E402

CLIENTS = 64
PATH = "/api/ml/predict/ctr"
APP = "adcluster"  # the application in configs/serve.yaml
BATCH_WAIT_S = 0.002
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


async def _load(call: Any, seconds: float) -> float:
    """Calls per second of ``CLIENTS`` concurrent clients, each awaiting ``call()`` in turn."""
    done = 0
    stop = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await call()
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return done / (time.perf_counter() - t0)


def set_batching(settings: Settings, port: int, size: int) -> None:
    """Both levels at once, live (``serve deploy`` of a changed ``user_config``, no restart):
    the Gateway's grouping of requests into one CtrModel call and the CtrModel's
    ``@serve.batch`` size. 1 and 1: one call and one model call per request."""
    set_user_config(
        settings,
        port,
        {
            "Gateway": {"ctr_group_requests": size},
            "CtrModel": {
                "max_batch_size": size,
                "batch_wait_timeout_s": BATCH_WAIT_S if size > 1 else 0.0,
            },
        },
    )


def serving(settings: Settings, rounds: int, seconds: float) -> dict[str, Any]:
    """HTTP (wrk) and handle-path rounds, batched and single interleaved on one deployment."""
    wrk = find_wrk(install=True)
    if wrk is None:
        raise SystemExit("wrk not found (apt-get install -y wrk)")
    key = new_key(settings)
    script = Path(tempfile.mkdtemp(prefix="adc-bench-ctr-")) / "ctr.lua"
    script.write_text(
        WRK_SCRIPT.format(body=json.dumps({"creatives": [{"ad_id": "a1", **CREATIVE}]}), key=key)
    )
    port = free_port()
    running = runtime.up(settings, "local", port=port)
    url = f"{running.url}{PATH}"
    check = httpx.post(
        url, json={"creatives": [CREATIVE]}, headers={"Authorization": f"Bearer {key}"}
    )
    if check.status_code != 200:
        raise RuntimeError(f"{url}: {check.status_code} {check.text[:200]}")
    # The driver's own handle, by value over gRPC as the gateway replicas call it (the
    # default of a handle follows the environment at import time, before Ray started).
    handle = serve.get_deployment_handle("CtrModel", app_name=APP).options(_by_reference=False)

    def predict_one() -> Any:
        return handle.predict.remote(settings.tenant_id, [CREATIVE])

    http: dict[str, list[dict[str, Any]]] = {"batched": [], "single": []}
    direct: dict[str, list[float]] = {"batched": [], "single": [], "noop": []}
    try:
        for i in range(rounds):
            for side in ("single", "batched"):
                set_batching(settings, port, CLIENTS if side == "batched" else 1)
                if i == 0:
                    run_wrk(wrk, url, script, connections=CLIENTS, threads=2, duration_s=2)
                r = run_wrk(wrk, url, script, connections=CLIENTS, threads=2, duration_s=seconds)
                http[side].append(r)
                direct[side].append(asyncio.run(_load(predict_one, 4.0)))
                print(
                    f"  {side:>7}: HTTP {r['requests_per_s']:8.1f} req/s p99 {r['p99_ms']:.1f} ms"
                    f" non-2xx {r['non_2xx']}; handle {direct[side][-1]:7.1f}/s",
                    flush=True,
                )
            direct["noop"].append(asyncio.run(_load(lambda: handle.ping.remote(), 4.0)))
    finally:
        runtime.down(settings)
        serve.shutdown()
        ray.shutdown()
    b, s1 = summarise(http["batched"]), summarise(http["single"])
    med = {k: statistics.median(v) for k, v in direct.items()}
    return {
        "ratio": round(b["requests_per_s"] / s1["requests_per_s"], 3),
        "http": {
            "path": f"wrk -c{CLIENTS} -> HAProxy -> Gateway (2 replicas) -> CtrModel (1 replica)",
            "proxy": serve_mode.current_proxy(),
            "prediction_log": "on (every prediction logged, the production default)",
            "batched": b,
            "single": s1,
        },
        "handle": {
            "path": f"{CLIENTS} asyncio clients in the driver -> CtrModel handle (gRPC)",
            "batched_per_s": [round(x, 1) for x in direct["batched"]],
            "single_per_s": [round(x, 1) for x in direct["single"]],
            "noop_per_s": [round(x, 1) for x in direct["noop"]],
            "ratio": round(med["batched"] / med["single"], 3),
            "noop_vs_single": round(med["noop"] / med["single"], 3),
            "note": "noop: the deployment's ping(), a plain method Serve runs in its thread "
            "pool: Serve's per-call cost, for reference",
        },
    }


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

    ray.shutdown()

    # Serving: one champion; the gateway `adcluster up` deploys, batching switched live.
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
        tenant_id=settings.tenant_id,
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
    served = serving(settings, args.rounds, args.seconds)
    result = {
        "ratio": served.pop("ratio"),
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
            "model": "200 trees, depth 6 (the search space's largest)",
            "batched": f"Gateway groups up to {CLIENTS} requests per CtrModel call; "
            f"@serve.batch max_batch_size {CLIENTS}, wait {BATCH_WAIT_S * 1000:g} ms",
            "single": "one CtrModel call and one model call per request",
            **served,
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
