"""One training run, end to end: data -> snapshot -> Tune -> challenger -> decision.

Called by the trainer actor (``POST /api/ml/train/{kind}``), the CLI, the job entry point
(``python -m training.run``) and, later, the learning cycle's compound learner. Progress and
the result are written to the run's ``training_runs`` row.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from core.db import model_registry as rows
from core.db.engine import Database
from core.db.training_data import latest_outcomes
from core.ml import registry
from core.ml.config import TrainingConfig
from core.ml.dataset import build_table, time_split, write_snapshot
from core.ml.model import Kind, TaskData, fit, task_data
from core.settings import Settings
from training import tune as tune_search

log = logging.getLogger("adcluster.training")
Source = Literal["database", "synthetic"]


@dataclass(frozen=True)
class SyntheticSpec:
    rows: int
    seed: int


def load_rows(
    db: Database,
    *,
    tenant_id: str,
    source: Source,
    synthetic: SyntheticSpec | None,
    video_dim: int,
) -> list[dict[str, Any]]:
    if source == "synthetic":
        from training.synthetic import synthetic_ads

        spec = synthetic or SyntheticSpec(rows=2000, seed=0)
        return synthetic_ads(spec.rows, seed=spec.seed, video_dim=video_dim, tenant_id=tenant_id)
    with db.session() as s:
        return latest_outcomes(s, tenant_id=tenant_id)


def _concat(a: TaskData, b: TaskData) -> TaskData:
    truth = (
        None
        if a.true_ctr is None or b.true_ctr is None
        else np.concatenate([a.true_ctr, b.true_ctr])
    )
    return TaskData(
        a.kind,
        np.vstack([a.x, b.x]),
        np.concatenate([a.y, b.y]),
        np.concatenate([a.w, b.w]),
        np.concatenate([a.impressions, b.impressions]),
        np.concatenate([a.clicks, b.clicks]),
        truth,
    )


def new_run(db: Database, *, tenant_id: str, kind: Kind, source: Source) -> str:
    run_id = f"train-{uuid.uuid4().hex[:12]}"
    with db.session() as s:
        rows.add_run(s, tenant_id=tenant_id, run_id=run_id, kind=kind, source=source)
    return run_id


def run(
    settings: Settings,
    config: TrainingConfig,
    *,
    tenant_id: str,
    kind: Kind,
    source: Source,
    run_id: str | None = None,
    synthetic: SyntheticSpec | None = None,
    table: pa.Table | None = None,
) -> dict[str, Any]:
    """Train challengers and decide; returns the run's result (also stored on its row).

    ``table``: an already built table (tests, benchmarks) instead of ``source``.
    """
    db = Database(settings.db_url)
    try:
        run_id = run_id or new_run(db, tenant_id=tenant_id, kind=kind, source=source)
        with db.session() as s:
            rows.update_run(s, run_id=run_id, status="running", started_at=datetime.now(UTC))
        try:
            result = _train(
                db,
                settings,
                config,
                tenant_id=tenant_id,
                kind=kind,
                source=source,
                run_id=run_id,
                synthetic=synthetic,
                table=table,
            )
        except Exception as exc:
            log.exception("training run failed", extra={"run_id": run_id})
            with db.session() as s:
                rows.update_run(
                    s,
                    run_id=run_id,
                    status="failed",
                    error=f"{type(exc).__name__}: {exc}"[:2000],
                    finished_at=datetime.now(UTC),
                )
            raise
        with db.session() as s:
            rows.update_run(
                s,
                run_id=run_id,
                status="succeeded",
                trials=result["trials"],
                decision=result["decision"],
                finished_at=datetime.now(UTC),
            )
        return result
    finally:
        db.dispose()


def _train(
    db: Database,
    settings: Settings,
    config: TrainingConfig,
    *,
    tenant_id: str,
    kind: Kind,
    source: Source,
    run_id: str,
    synthetic: SyntheticSpec | None,
    table: pa.Table | None,
) -> dict[str, Any]:
    if table is None:
        raw = load_rows(
            db,
            tenant_id=tenant_id,
            source=source,
            synthetic=synthetic,
            video_dim=config.features.video_dim,
        )
        table = build_table(raw, config.features, min_impressions=config.dataset.min_impressions)
    snapshot = write_snapshot(
        table, settings.resolve(config.dataset.snapshot_dir), kind=kind, source=source
    )
    split = time_split(table, config.dataset)
    train, valid, test = (
        task_data(kind, t, config.features) for t in (split.train, split.valid, split.test)
    )
    log.info(
        "training run",
        extra={"run_id": run_id, "kind": kind, "dataset": snapshot.version, **split.sizes()},
    )
    found = tune_search.search(
        kind=kind,
        train=train,
        valid=valid,
        config=config.tune,
        storage=settings.resolve("training/tune"),
        name=run_id,
    )
    # The chosen configuration, refit on train + validation (the held-out slice stays unseen).
    model = fit(
        _concat(train, valid),
        found.best_params,
        rounds=max(1, found.best_rounds),
        features=config.features,
        seed=config.tune.seed,
    )
    outcome = registry.evaluate_and_register(
        db,
        settings,
        config,
        tenant_id=tenant_id,
        kind=kind,
        model=model,
        holdout=test,
        dataset_version=snapshot.version,
        run_id=run_id,
        extra_metrics={
            "valid_loss": found.best_loss,
            "device": found.device,
            "split": split.sizes(),
        },
    )
    log.info(
        "training decision",
        extra={"run_id": run_id, **{k: v for k, v in outcome.to_dict().items() if k != "metrics"}},
    )
    return {
        "run_id": run_id,
        "kind": kind,
        "dataset_version": snapshot.version,
        "split": split.sizes(),
        "device": found.device,
        "trials": found.trials,
        "decision": outcome.to_dict(),
    }
