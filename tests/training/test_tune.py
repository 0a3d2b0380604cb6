"""Ray Tune search: trials declare resources, the device follows the cluster, ASHA runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.ml.config import training_config
from core.ml.dataset import build_table, time_split
from core.ml.model import task_data
from training import tune as tune_search
from training.synthetic import synthetic_ads


@pytest.mark.parametrize(("gpus", "expected"), [(0.0, False), (1.0, True)])
def test_gpu_trials_only_on_a_cluster_with_gpus(monkeypatch, gpus: float, expected: bool) -> None:
    cfg = training_config().tune
    monkeypatch.setattr(tune_search.ray, "cluster_resources", lambda: {"CPU": 2.0, "GPU": gpus})
    assert tune_search.cluster_has_gpus(cfg) is expected
    resources = tune_search.trial_resources(cfg, expected)
    assert resources == {"cpu": cfg.cpus_per_trial, "gpu": cfg.gpus_per_trial if expected else 0}


def test_search_space_follows_the_config() -> None:
    space = tune_search.search_space(training_config().tune)
    assert set(space) == set(training_config().tune.search_space)


def test_small_search_reports_each_trial_with_its_device(ray_session, tmp_path: Path) -> None:
    cfg = training_config()
    split = time_split(
        build_table(synthetic_ads(300, seed=9), cfg.features, min_impressions=1), cfg.dataset
    )
    train, valid = (task_data("value", t, cfg.features) for t in (split.train, split.valid))
    config = cfg.tune.model_copy(
        update={"num_samples": 2, "max_rounds": 10, "rounds_per_report": 5}
    )
    found = tune_search.search(
        kind="value", train=train, valid=valid, config=config, storage=tmp_path, name="t"
    )
    assert len(found.trials) == 2 and found.device == "cpu"
    assert all(t["device"] == "cpu" and t["valid_loss"] > 0 for t in found.trials)
    assert 1 <= found.best_rounds <= 10
