"""``adcluster ope`` on tiny logs in our layout and the Open Bandit layout (CSV, Parquet)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cluster.cli import app

runner = CliRunner()
P = np.array([0.5, 0.3, 0.2])
MU = np.array([0.05, 0.1, 0.3])


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["ope", *args])
    return result.exit_code, result.stdout, result.stderr


def rows(n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(11)
    a = g.choice(3, size=n, p=P)
    return a, g.binomial(1, MU[a])


@pytest.fixture
def ours(tmp_path: Path) -> Path:
    a, r = rows()
    path = tmp_path / "log.csv"
    items = np.array(["ad-a", "ad-b", "ad-c"])[a]
    pd.DataFrame(
        {"timestamp": np.arange(a.size), "item_id": items, "reward": r, "propensity": P[a]}
    ).to_csv(path, index=False)
    return path


def open_bandit(a: np.ndarray, r: np.ndarray) -> pd.DataFrame:
    n = a.size
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2019-11-24", periods=n, freq="s").astype(str),
            "item_id": a,
            "position": np.arange(n) % 3 + 1,
            "click": r,
            "propensity_score": P[a],
            "user_feature_0": "81ce123cbb5bd8ce818f7ab5d6e6c9cb",
            "user-item_affinity_0": 0.0,
        }
    )


@pytest.fixture
def obd_csv(tmp_path: Path) -> Path:
    path = tmp_path / "all.csv"
    open_bandit(*rows()).to_csv(path)  # with the leading index column, as published
    return path


@pytest.fixture
def obd_parquet(tmp_path: Path) -> Path:
    path = tmp_path / "all.parquet"
    open_bandit(*rows()).to_parquet(path)
    return path


def test_table_on_our_layout(ours: Path) -> None:
    code, out, _ = run("--policy", "uniform", "--log", str(ours), "--rounds", "100")
    assert code == 0, out
    for text in ("ips", "snips", "dr", "logged", "95% interval", "600", "gate:", "adcluster"):
        assert text in out
    assert "bootstrap: 100 rounds" in out


def test_json_on_our_layout(ours: Path) -> None:
    code, out, _ = run(
        "--policy", "greedy", "--log", str(ours), "--rounds", "200", "--seed", "3", "--json"
    )
    assert code == 0, out
    report = json.loads(out)
    assert report["layout"] == "adcluster" and report["policy"] == "greedy"
    assert (report["n_log"], report["n_fit"], report["n_eval"]) == (600, 300, 300)
    assert report["policy_probabilities"] == {"ad-a": 0.0, "ad-b": 0.0, "ad-c": 1.0}
    assert set(report["estimates"]) == {"ips", "snips", "dr"}
    for e in [*report["estimates"].values(), report["logged"]]:
        assert e["low"] <= e["value"] <= e["high"]
        assert e["n"] == 300 and e["rounds"] == 200 and e["confidence"] == 0.95
    assert report["gate"]["baseline"] == report["logged"]["value"]
    assert isinstance(report["gate"]["allowed"], bool)
    again = json.loads(
        run("--policy", "greedy", "--log", str(ours), "--rounds", "200", "--seed", "3", "--json")[1]
    )
    assert again == report  # seeded


def test_open_bandit_csv_and_parquet_agree(obd_csv: Path, obd_parquet: Path) -> None:
    reports = []
    for path in (obd_csv, obd_parquet):
        code, out, _ = run(
            "--policy",
            "thompson",
            "--log",
            str(path),
            "--rounds",
            "100",
            "--json",
            "--split",
            "0.4",
        )
        assert code == 0, out
        reports.append(json.loads(out))
    csv, parquet = reports
    assert csv["layout"] == "open_bandit" and csv["n_eval"] == 360
    assert set(csv["policy_probabilities"]) == {"0", "1", "2"}
    assert sum(csv["policy_probabilities"].values()) == pytest.approx(1)
    assert csv["estimates"] == parquet["estimates"]


def test_flags_override_the_config(ours: Path) -> None:
    code, out, _ = run(
        "--policy",
        "logged",
        "--log",
        str(ours),
        "--rounds",
        "50",
        "--confidence",
        "0.8",
        "--tolerance",
        "0.5",
        "--gate-estimator",
        "ips",
        "--json",
    )
    report = json.loads(out)
    assert code == 0 and report["estimates"]["ips"]["confidence"] == 0.8
    assert report["gate"] == {**report["gate"], "estimator": "ips", "tolerance": 0.5}
    assert report["gate"]["allowed"]  # the logging policy clears half its own value


def test_policy_file(ours: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.csv"
    policy.write_text("item_id,probability\nad-c,0.5\nad-b,0.5\n")
    code, out, _ = run("--policy", str(policy), "--log", str(ours), "--rounds", "50", "--json")
    assert code == 0, out
    assert json.loads(out)["policy_probabilities"]["ad-a"] == 0.0


def test_thompson_without_split_warns(ours: Path) -> None:
    code, _, err = run("--policy", "thompson", "--log", str(ours), "--rounds", "50", "--split", "0")
    assert code == 0 and "optimistic" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "best"], "unknown policy 'best'"),
        (["--policy", "missing.csv"], "policy file not found"),
        (["--policy", "uniform", "--format", "xml"], "unknown format 'xml'"),
        (["--policy", "uniform", "--gate-estimator", "dm"], "invalid OPE settings"),
        (["--policy", "uniform", "--split", "0.999"], "Invalid value for '--split'"),
    ],
)
def test_bad_arguments_exit_non_zero(ours: Path, args: list[str], message: str) -> None:
    code, out, err = run(*args, "--log", str(ours))
    assert code == 2 and message in err + out


def test_bad_logs_exit_non_zero(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    code, _, err = run("--policy", "uniform", "--log", str(missing))
    assert code == 2 and "log file not found" in err
    no_propensity = tmp_path / "np.csv"
    no_propensity.write_text("item_id,reward\na,1\n")
    code, _, err = run("--policy", "uniform", "--log", str(no_propensity))
    assert code == 2 and "missing column(s) propensity" in err
    obd = tmp_path / "obd.csv"
    obd.write_text("timestamp,item_id,click,propensity_score\n1,0,1,0.5\n")
    code, _, err = run("--policy", "uniform", "--log", str(obd))
    assert code == 2 and "Open Bandit layout lacks column(s) position" in err
    bad_parquet = tmp_path / "bad.parquet"
    bad_parquet.write_text("not parquet")
    code, _, err = run("--policy", "uniform", "--log", str(bad_parquet))
    assert code == 2 and "cannot read as parquet" in err
