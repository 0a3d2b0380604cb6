"""Evaluation policies for ``adcluster ope``: context-free distributions over the log's items.

Each returns probabilities over ``items`` (shape ``(n_items,)``, summing to 1):

- ``uniform``: equal probability for every item seen in the log;
- ``greedy``: the item(s) with the best mean logged reward (ties share), with ``epsilon``
  spread over all items;
- ``thompson``: each item's probability of being best under Beta(1 + clicks,
  1 + non-clicks) posteriors, from seeded joint draws (adcluster's Thompson allocation);
- ``logged``: the logging policy as the empirical frequency of each item (a sanity check:
  its estimates should match the on-policy mean reward);
- a CSV file ``item_id,probability``.

A policy fitted on the rows it is then evaluated on looks better than it is (it chose the
items that happened to do well there): fit on one part of the log and evaluate on the rest
(:meth:`core.learning.ope_data.BanditLog.split`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.domain.thompson import prob_best
from core.learning.ope_data import BanditLog

POLICIES: tuple[str, ...] = ("uniform", "greedy", "thompson", "logged")
FITTED: tuple[str, ...] = ("greedy", "thompson")  # fitted on the log: evaluate on a split
SUM_TOL = 1e-6


class PolicyError(ValueError):
    """An unknown policy, or a policy file that does not fit the log."""


def _per_item(log: BanditLog, items: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(rows, reward sum) of each item in ``log``, shape ``(n_items,)`` each."""
    grouped = log.frame.groupby("item_id")["reward"].agg(["count", "sum"])
    grouped = grouped.reindex(items, fill_value=0)
    return grouped["count"].to_numpy(float), grouped["sum"].to_numpy(float)


def uniform(items: list[str]) -> np.ndarray:
    return np.full(len(items), 1.0 / len(items))


def greedy(log: BanditLog, items: list[str], epsilon: float) -> np.ndarray:
    """``1 - epsilon`` on the best mean reward in ``log`` (shared by ties), ``epsilon`` spread."""
    if not 0 <= epsilon <= 1:
        raise PolicyError(f"epsilon must lie in [0, 1], got {epsilon!r}")
    counts, sums = _per_item(log, items)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), -np.inf)
    best = means == means.max()
    return (1 - epsilon) * best / best.sum() + epsilon / len(items)


def thompson(log: BanditLog, items: list[str], draws: int, rng: np.random.Generator) -> np.ndarray:
    """P(item is best) under Beta(1 + Σ reward, 1 + Σ (1 - reward)); rewards in [0, 1]."""
    reward = log.frame["reward"].to_numpy()
    if np.any((reward < 0) | (reward > 1)):
        raise PolicyError("thompson needs rewards in [0, 1] (clicks)")
    counts, sums = _per_item(log, items)
    return prob_best(1.0 + sums, 1.0 + counts - sums, rng, draws)


def logged(log: BanditLog, items: list[str]) -> np.ndarray:
    counts, _ = _per_item(log, items)
    return counts / counts.sum()


def from_file(path: Path, items: list[str]) -> np.ndarray:
    """Probabilities from a CSV ``item_id,probability``; items it leaves out get 0."""
    try:
        frame = pd.read_csv(path, dtype={"item_id": str})
    except Exception as exc:
        raise PolicyError(f"{path}: cannot read the policy file: {exc}") from exc
    missing = [c for c in ("item_id", "probability") if c not in frame.columns]
    if missing:
        raise PolicyError(f"{path}: missing column(s) {', '.join(missing)}")
    prob = pd.to_numeric(frame["probability"], errors="coerce")
    if prob.isna().any() or (prob < 0).any() or (prob > 1).any():
        raise PolicyError(f"{path}: probabilities must be numbers in [0, 1]")
    if abs(prob.sum() - 1) > SUM_TOL:
        raise PolicyError(f"{path}: probabilities sum to {prob.sum():.6g}, not 1")
    ids = frame["item_id"].astype(str).str.strip()
    if ids.duplicated().any():
        raise PolicyError(f"{path}: item {ids[ids.duplicated()].iloc[0]!r} is listed twice")
    unknown = sorted(set(ids[prob.to_numpy() > 0]) - set(items))
    if unknown:
        raise PolicyError(
            f"{path}: the policy gives probability to items never logged "
            f"({', '.join(unknown[:5])}): no logged data can evaluate them"
        )
    return pd.Series(prob.to_numpy(), index=ids).reindex(items, fill_value=0.0).to_numpy(float)


def build(
    spec: str,
    fit: BanditLog,
    items: list[str],
    *,
    epsilon: float,
    draws: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """The policy named by ``spec`` (one of :data:`POLICIES` or a CSV path), fitted on ``fit``."""
    if spec == "uniform":
        return uniform(items)
    if spec == "greedy":
        return greedy(fit, items, epsilon)
    if spec == "thompson":
        return thompson(fit, items, draws, rng)
    if spec == "logged":
        return logged(fit, items)
    path = Path(spec)
    if path.suffix.lower() == ".csv" or path.exists():
        if not path.is_file():
            raise PolicyError(f"policy file not found: {path}")
        return from_file(path, items)
    raise PolicyError(f"unknown policy {spec!r}: use {', '.join(POLICIES)} or a CSV file")
