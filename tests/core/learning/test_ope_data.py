"""Reading OPE logs: our layout, the Open Bandit layout, CSV and Parquet; configs/ope.yaml."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import ConfigError, model_defaults
from core.learning.ope_data import BanditLog, LogError, OpeConfig, normalise, read_log


def ours() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": [3, 1, 2, 4],
            "item_id": ["b", "a", "a", "c"],
            "reward": [1, 0, 1, 0],
            "propensity": [0.5, 0.25, 0.25, 0.25],
        }
    )


def open_bandit() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Unnamed: 0": [0, 1, 2],  # the index column the public CSVs carry
            "timestamp": ["2019-11-24 00:00:02", "2019-11-24 00:00:01", "2019-11-24 00:00:03"],
            "item_id": [10, 3, 10],
            "position": [1, 2, 3],
            "click": [0, 1, 0],
            "propensity_score": [0.0125, 0.0125, 0.0125],
            "user_feature_0": ["x", "y", "x"],
            "user-item_affinity_0": [0.0, 0.1, 0.2],
        }
    )


def test_our_layout_is_sorted_by_time() -> None:
    log = normalise(ours(), "ours")
    assert log.layout == "adcluster" and log.n == 4
    assert log.frame["item_id"].tolist() == ["a", "a", "b", "c"]
    assert log.frame["reward"].tolist() == [0.0, 1.0, 1.0, 0.0]
    assert log.items == ["a", "b", "c"]
    assert log.actions(["a", "b", "c"]).tolist() == [0, 0, 1, 2]


def test_open_bandit_layout_maps_click_and_propensity_score() -> None:
    log = normalise(open_bandit(), "obd")
    assert log.layout == "open_bandit"
    assert {"reward", "propensity", "position"} <= set(log.frame.columns)
    assert not {"click", "propensity_score", "Unnamed: 0"} & set(log.frame.columns)
    assert log.frame["item_id"].tolist() == ["3", "10", "10"]  # by time, as text
    assert log.frame["reward"].tolist() == [1.0, 0.0, 0.0]
    assert log.feature_columns == ["user_feature_0", "user-item_affinity_0"]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_read_csv_and_parquet(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"log.{suffix}"
    frame = open_bandit()
    frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path)
    log = read_log(path)
    assert log.layout == "open_bandit" and log.n == 3 and log.source == str(path)
    other = tmp_path / "log.data"
    other.write_bytes(path.read_bytes())
    assert read_log(other, suffix).n == 3
    with pytest.raises(LogError, match="cannot tell the format"):
        read_log(other)


def test_split_by_time() -> None:
    head, tail = normalise(ours()).split(0.5)
    assert head.frame["timestamp"].tolist() == [1, 2] and tail.frame["timestamp"].tolist() == [3, 4]
    with pytest.raises(LogError, match="leaves no rows"):
        normalise(ours()).split(0.1)


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (ours().drop(columns=["propensity"]), r"missing column\(s\) propensity"),
        (ours().drop(columns=["reward", "item_id"]), r"missing column\(s\) item_id, reward"),
        (open_bandit().drop(columns=["position"]), r"Open Bandit layout lacks column\(s\) posi"),
        (ours().assign(propensity=[0.5, 0.0, 0.2, 0.2]), r"'propensity' row 1: 0.0 is not in"),
        (ours().assign(propensity=[0.5, 1.2, 0.2, 0.2]), r"'propensity' row 1: 1.2 is not in"),
        (ours().assign(reward=[1, "x", 0, 0]), r"'reward' row 1: not a finite number \('x'\)"),
        (ours().assign(item_id=["a", None, "b", "c"]), "'item_id' has empty values"),
        (ours().assign(timestamp=["x", "y", "z", "w"]), "'timestamp' is not a time"),
        (ours().iloc[:0], "the log has no rows"),
    ],
)
def test_bad_logs_are_named(frame: pd.DataFrame, match: str) -> None:
    with pytest.raises(LogError, match=match):
        normalise(frame, "f.csv")


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(LogError, match="log file not found"):
        read_log(tmp_path / "none.csv")
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(LogError, match="cannot read as parquet"):
        read_log(bad)
    with pytest.raises(LogError, match="unknown format 'xml'"):
        read_log(bad, "xml")


def test_actions_need_every_item() -> None:
    with pytest.raises(LogError, match="items not in the item list: c"):
        normalise(ours()).actions(["a", "b"])


def test_config_loads_and_overrides() -> None:
    assert model_defaults(OpeConfig) == []  # every value is written in configs/ope.yaml
    config = OpeConfig.load()
    assert 0 < config.bootstrap.confidence < 1 and config.gate.estimator in ("ips", "snips", "dr")
    tuned = OpeConfig.load(overrides={"bootstrap": {"rounds": 7}, "gate": {"tolerance": 0.1}})
    assert tuned.bootstrap.rounds == 7 and tuned.gate.tolerance == 0.1
    with pytest.raises(ConfigError, match="gate.estimator"):
        OpeConfig.load(overrides={"gate": {"estimator": "dm"}})


def test_a_log_is_a_plain_value() -> None:
    log = BanditLog(normalise(ours()).frame, "adcluster", "x")
    assert np.isclose(log.frame["propensity"].sum(), 1.25)
