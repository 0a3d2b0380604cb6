"""Train a small CTR model on synthetic ads and make it a tenant's champion (HTTP tests)."""

from __future__ import annotations

from core.db.engine import Database
from core.ml import registry
from core.ml.config import training_config
from core.ml.dataset import build_table, time_split
from core.ml.model import fit, task_data
from core.settings import Settings
from training.synthetic import synthetic_ads

PARAMS = {
    "eta": 0.1,
    "max_depth": 3,
    "min_child_weight": 1.0,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "lambda": 1.0,
}


def register_ctr_model(settings: Settings, tenant: str, rounds: int) -> str:
    """Fit ``rounds`` boosting rounds, register the model and promote it; its version."""
    cfg = training_config()
    split = time_split(
        build_table(synthetic_ads(400, seed=rounds), cfg.features, min_impressions=100), cfg.dataset
    )
    model = fit(
        task_data("ctr", split.train, cfg.features), PARAMS, rounds=rounds, features=cfg.features
    )
    db = Database(settings.db_url)
    try:
        out = registry.evaluate_and_register(
            db,
            settings,
            cfg,
            tenant_id=tenant,
            kind="ctr",
            model=model,
            holdout=task_data("ctr", split.test, cfg.features),
            dataset_version=None,
            run_id=None,
        )
        if out.action != "promoted":
            registry.promote(db, tenant_id=tenant, kind="ctr", version=out.version, reason="test")
        return out.version
    finally:
        db.dispose()
