"""Evaluation policies of ``adcluster ope`` and one evaluation end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.learning import ope_policies
from core.learning.ope_data import BanditLog, OpeConfig, normalise
from core.learning.ope_policies import PolicyError
from core.learning.ope_report import evaluate

ITEMS = ["a", "b", "c"]


def log(rows: list[tuple[str, float]]) -> BanditLog:
    items, rewards = zip(*rows, strict=True)
    return normalise(
        pd.DataFrame({"item_id": items, "reward": rewards, "propensity": [0.5] * len(rows)})
    )


CLICKS = log([("a", 0), ("a", 1), ("b", 1), ("b", 1), ("c", 0), ("c", 0), ("c", 0), ("c", 1)])


def test_context_free_policies() -> None:
    assert ope_policies.uniform(ITEMS) == pytest.approx([1 / 3] * 3)
    assert ope_policies.greedy(CLICKS, ITEMS, 0.0) == pytest.approx([0, 1, 0])
    assert ope_policies.greedy(CLICKS, ITEMS, 0.3) == pytest.approx([0.1, 0.8, 0.1])
    tie = log([("a", 1), ("b", 1), ("c", 0)])
    assert ope_policies.greedy(tie, ITEMS, 0.0) == pytest.approx([0.5, 0.5, 0])
    assert ope_policies.logged(CLICKS, ITEMS) == pytest.approx([0.25, 0.25, 0.5])


def test_thompson_is_the_probability_of_being_best() -> None:
    rng = np.random.default_rng(0)
    probs = ope_policies.thompson(CLICKS, ITEMS, 20_000, rng)
    assert probs.sum() == pytest.approx(1)
    # Beta(2, 2), Beta(3, 1), Beta(2, 4): b is most often best, c least.
    assert probs[1] > probs[0] > probs[2]
    with pytest.raises(PolicyError, match=r"rewards in \[0, 1\]"):
        ope_policies.thompson(log([("a", 2.0)]), ["a"], 10, rng)


def test_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("item_id,probability\nc,0.75\na,0.25\n")
    assert ope_policies.from_file(path, ITEMS) == pytest.approx([0.25, 0, 0.75])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("item,probability\na,1\n", r"missing column\(s\) item_id"),
        ("item_id,probability\na,0.5\nb,0.4\n", "sum to 0.9, not 1"),
        ("item_id,probability\na,x\nb,1\n", r"numbers in \[0, 1\]"),
        ("item_id,probability\na,0.5\na,0.5\n", "'a' is listed twice"),
        ("item_id,probability\na,0.5\nz,0.5\n", r"items never logged \(z\)"),
    ],
)
def test_bad_policy_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(PolicyError, match=match):
        ope_policies.from_file(path, ITEMS)


def test_unknown_policy(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(PolicyError, match="unknown policy 'best'"):
        ope_policies.build("best", CLICKS, ITEMS, epsilon=0, draws=10, rng=rng)
    with pytest.raises(PolicyError, match="policy file not found"):
        ope_policies.build(str(tmp_path / "x.csv"), CLICKS, ITEMS, epsilon=0, draws=10, rng=rng)


def synthetic(n: int = 4000) -> BanditLog:
    g = np.random.default_rng(7)
    p, mu = np.array([0.5, 0.3, 0.2]), np.array([0.05, 0.1, 0.3])
    a = g.choice(3, size=n, p=p)
    return normalise(
        pd.DataFrame(
            {
                "timestamp": np.arange(n),
                "item_id": np.array(ITEMS)[a],
                "reward": g.binomial(1, mu[a]),
                "propensity": p[a],
            }
        )
    )


def test_evaluate_greedy_on_a_split() -> None:
    config = OpeConfig.load(overrides={"bootstrap": {"rounds": 200, "seed": 1}})
    report = evaluate(synthetic(), "greedy", config)
    assert (report.n_fit, report.n_eval) == (2000, 2000) and report.split == 0.5
    assert report.probabilities == pytest.approx([0, 0, 1])
    dr = report.estimates["dr"]
    assert dr.low <= 0.3 <= dr.high  # the true value of always showing c
    assert report.baseline.value == pytest.approx(0.115, abs=0.02)  # .5*.05 + .3*.1 + .2*.3
    assert report.allowed and report.reason.startswith("allowed")
    assert report.warnings == []
    assert report.to_dict()["gate"]["allowed"] is True


def test_evaluate_without_split_warns_for_fitted_policies() -> None:
    config = OpeConfig.load(overrides={"bootstrap": {"rounds": 50}})
    report = evaluate(synthetic(), "thompson", config, split=0)
    assert report.n_eval == 4000 and "optimistic" in report.warnings[0]
    logged = evaluate(synthetic(), "logged", config)
    assert logged.split == 0 and logged.warnings == []
    assert logged.estimates["ips"].value == pytest.approx(logged.baseline.value, rel=0.05)
