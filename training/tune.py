"""Challengers with Ray Tune: random search over ``configs/training.yaml`` ``tune.search_space``
with ASHA early stopping, the same machinery for the CTR and the conversion-value model.

Each trial declares its resources (``tune.cpus_per_trial``; one GPU, ``tune.gpus_per_trial``,
only when the cluster has GPUs). With a GPU a trial trains with XGBoost's CUDA device, else
on CPU; the device is logged with the trial and reported in its metrics.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
import xgboost as xgb
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.basic_variant import BasicVariantGenerator

from core.ml.config import TuneConfig
from core.ml.model import Kind, TaskData, loss_of, xgb_params

log = logging.getLogger("adcluster.training")
METRIC = "valid_loss"


@dataclass(frozen=True)
class SearchResult:
    best_params: dict[str, Any]
    best_rounds: int
    best_loss: float
    device: str
    trials: list[dict[str, Any]]


def search_space(config: TuneConfig) -> dict[str, Any]:
    """Tune sampling functions from the configured dimensions."""
    space: dict[str, Any] = {}
    for name, dim in config.search_space.items():
        if dim.kind == "loguniform":
            space[name] = tune.loguniform(dim.low, dim.high)
        elif dim.kind == "uniform":
            space[name] = tune.uniform(dim.low, dim.high)
        else:
            space[name] = tune.randint(int(dim.low), int(dim.high))
    return space


def cluster_has_gpus(config: TuneConfig) -> bool:
    """True when trials should request a GPU (the cluster has one and the config asks)."""
    return config.gpus_per_trial > 0 and ray.cluster_resources().get("GPU", 0) >= 1


def trial_resources(config: TuneConfig, gpu: bool) -> dict[str, float]:
    return {"cpu": config.cpus_per_trial, "gpu": config.gpus_per_trial if gpu else 0}


def train_trial(
    params: dict[str, Any],
    *,
    kind: Kind,
    train: TaskData,
    valid: TaskData,
    max_rounds: int,
    step: int,
    device: str,
    seed: int,
) -> None:
    """One trial: boost ``step`` rounds at a time, report the validation loss after each."""
    context = tune.get_context()
    log.info(
        "trial started",
        extra={
            "trial_id": context.get_trial_id(),
            "device": device,
            "kind": kind,
            "params": params,
        },
    )
    xparams = xgb_params(kind, params, device=device, seed=seed)
    dtrain = train.dmatrix()
    booster: xgb.Booster | None = None
    best_loss, best_rounds = float("inf"), 0
    cpu_start = time.process_time()
    node_id = ray.get_runtime_context().get_node_id()  # where the trial ran (GPU node or not)
    for done in range(step, max_rounds + step, step):
        booster = xgb.train(xparams, dtrain, num_boost_round=step, xgb_model=booster)
        loss = loss_of(kind, booster.inplace_predict(valid.x), valid)
        if loss < best_loss:
            best_loss, best_rounds = loss, min(done, max_rounds)
        tune.report(
            {
                METRIC: loss,
                "rounds": min(done, max_rounds),
                "best_loss": best_loss,
                "best_rounds": best_rounds,
                "device": device,
                "node_id": node_id,
                "cpu_s": time.process_time() - cpu_start,
            }
        )


def search(
    *,
    kind: Kind,
    train: TaskData,
    valid: TaskData,
    config: TuneConfig,
    storage: Path,
    name: str,
) -> SearchResult:
    """Run the trials; the best trial is the one with the lowest validation loss seen."""
    gpu = cluster_has_gpus(config)
    device = "cuda" if gpu else "cpu"
    resources = trial_resources(config, gpu)
    log.info(
        "tune search",
        extra={
            "kind": kind,
            "device": device,
            "resources": resources,
            "num_samples": config.num_samples,
        },
    )
    steps = max(1, -(-config.max_rounds // config.rounds_per_report))
    trainable = tune.with_resources(
        tune.with_parameters(
            train_trial,
            kind=kind,
            train=train,
            valid=valid,
            max_rounds=config.max_rounds,
            step=config.rounds_per_report,
            device=device,
            seed=config.seed,
        ),
        resources,
    )
    scheduler = ASHAScheduler(
        time_attr="training_iteration",
        max_t=steps,
        grace_period=min(config.grace_period, steps),
        reduction_factor=config.reduction_factor,
    )
    tuner = tune.Tuner(
        trainable,
        param_space=search_space(config),
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode="min",
            scheduler=scheduler,
            num_samples=config.num_samples,
            max_concurrent_trials=config.max_concurrent_trials,
            # max_concurrent here: Tune does not apply max_concurrent_trials to a search
            # algorithm passed in (measured: a limit of 1 still ran 2 trials at once).
            search_alg=BasicVariantGenerator(
                random_state=config.seed, max_concurrent=config.max_concurrent_trials
            ),
            reuse_actors=True,  # no new worker process per trial
        ),
        run_config=tune.RunConfig(
            name=name, storage_path=str(storage), verbose=0, log_to_file=False
        ),
    )
    grid = tuner.fit()
    trials: list[dict[str, Any]] = []
    for result in grid:
        m = result.metrics or {}
        trials.append(
            {
                "trial_id": m.get("trial_id"),
                "params": result.config,
                "valid_loss": m.get("best_loss"),
                "rounds": m.get("rounds"),
                "best_rounds": m.get("best_rounds"),
                "device": m.get("device", device),
                "node_id": m.get("node_id"),
                "stopped_early": (m.get("rounds") or 0) < config.max_rounds,
                "error": str(result.error).splitlines()[0] if result.error else None,
            }
        )
    done = [t for t in trials if t["valid_loss"] is not None and t["error"] is None]
    if not done:
        raise RuntimeError(
            f"all {len(trials)} trials failed: {trials[0]['error'] if trials else ''}"
        )
    best = min(done, key=lambda t: t["valid_loss"])
    for t in trials:
        log.info(
            "trial finished",
            extra={
                k: t[k] for k in ("trial_id", "device", "valid_loss", "rounds", "stopped_early")
            },
        )
    return SearchResult(
        best["params"], int(best["best_rounds"]), float(best["valid_loss"]), device, trials
    )
