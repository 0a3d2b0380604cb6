"""Champion/challenger on the registry (no Ray): first promoted, planted worse never,
clearly better promoted, rollback restores the previous champion. Quality on synthetic data."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from core.db.engine import Database
from core.ml import registry
from core.ml.config import training_config
from core.ml.dataset import build_table, time_split
from core.ml.model import TaskData, fit, task_data
from core.settings import Settings
from training.synthetic import synthetic_ads

PARAMS = {
    "eta": 0.1,
    "max_depth": 4,
    "min_child_weight": 1.0,
    "subsample": 0.9,
    "colsample_bytree": 0.9,
    "lambda": 1.0,
}


@pytest.fixture(scope="module")
def data():
    cfg = training_config()
    table = build_table(synthetic_ads(2500, seed=21), cfg.features, min_impressions=100)
    split = time_split(table, cfg.dataset)
    return (
        cfg,
        task_data("ctr", split.train, cfg.features),
        task_data("ctr", split.test, cfg.features),
    )


def _shuffled(d: TaskData, seed: int) -> TaskData:
    """Labels (click counts with their impressions) shuffled across rows: features say nothing."""
    perm = np.random.default_rng(seed).permutation(len(d.y))
    return TaskData(d.kind, d.x, d.y[perm], d.w[perm], d.impressions[perm], d.clicks[perm])


def _register(db, settings, cfg, model, holdout):
    return registry.evaluate_and_register(
        db,
        settings,
        cfg,
        tenant_id="default",
        kind="ctr",
        model=model,
        holdout=holdout,
        dataset_version=None,
        run_id=None,
    )


def test_champion_challenger_lifecycle(make_settings: Callable[..., Settings], data) -> None:
    cfg, train, test = data
    settings = make_settings("sqlite")
    db = Database(settings.db_url)
    try:
        good = fit(train, PARAMS, rounds=120, features=cfg.features)
        first = _register(db, settings, cfg, good, test)
        assert first.action == "promoted" and first.version == "ctr-0001"
        # A planted worse challenger (shuffled labels) is never promoted.
        for seed in range(3):
            worse = fit(_shuffled(train, seed), PARAMS, rounds=120, features=cfg.features)
            assert _register(db, settings, cfg, worse, test).action == "kept"
        assert registry.champion(db, tenant_id="default", kind="ctr")["version"] == "ctr-0001"
        # Against a weak champion, a clearly better challenger is promoted.
        weak = fit(train, {**PARAMS, "max_depth": 1}, rounds=3, features=cfg.features)
        registry.promote(
            db,
            tenant_id="default",
            kind="ctr",
            version=_register(db, settings, cfg, weak, test).version,
            reason="test",
        )
        weak_version = registry.champion(db, tenant_id="default", kind="ctr")["version"]
        better = _register(db, settings, cfg, good, test)
        assert better.action == "promoted", better.reason
        assert better.champion_version == weak_version
        # Rollback restores the previous champion.
        undone, restored = registry.rollback(db, tenant_id="default", kind="ctr", reason="test")
        assert (undone, restored) == (better.version, weak_version)
        assert registry.champion(db, tenant_id="default", kind="ctr")["version"] == weak_version
    finally:
        db.dispose()


def test_rollback_without_history_is_a_clear_error(make_settings) -> None:
    settings = make_settings("sqlite")
    db = Database(settings.db_url)
    try:
        with pytest.raises(registry.RegistryError, match="no ctr champion"):
            registry.rollback(db, tenant_id="default", kind="ctr", reason="test")
    finally:
        db.dispose()


def test_held_out_auc_reaches_95_percent_of_true_ctr_auc(data) -> None:
    cfg, train, test = data
    model = fit(train, PARAMS, rounds=150, features=cfg.features)
    from core.domain.evaluation import auc

    got = auc(model.predict_matrix(test.x), test.impressions, test.clicks)
    truth = auc(test.true_ctr, test.impressions, test.clicks)
    assert got >= 0.95 * truth, (got, truth)


def test_value_model_on_the_same_machinery(make_settings: Callable[..., Settings], data) -> None:
    cfg = data[0]
    settings = make_settings("sqlite")
    table = build_table(synthetic_ads(800, seed=5), cfg.features, min_impressions=100)
    split = time_split(table, cfg.dataset)
    train, test = (task_data("value", t, cfg.features) for t in (split.train, split.test))
    db = Database(settings.db_url)
    try:
        first = registry.evaluate_and_register(
            db,
            settings,
            cfg,
            tenant_id="default",
            kind="value",
            model=fit(train, PARAMS, rounds=50, features=cfg.features),
            holdout=test,
            dataset_version=None,
            run_id=None,
        )
        assert first.version == "value-0001" and first.action == "promoted"
        assert first.metrics["challenger"]["rmse"] > 0
        assert registry.champion(db, tenant_id="default", kind="ctr") is None
    finally:
        db.dispose()
