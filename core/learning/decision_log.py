"""Our own logged allocations as a bandit log, for off-policy evaluation.

An allocation is a distribution over arms (each arm's share of the budget, its propensity).
Drawing budget units from it, each unit's arm with that share as its propensity and the
arm's reward (its ROAS over the interval after the decision), gives a log in which every row
is an action the logging policy took with a known probability: what IPS, SNIPS and DR need.
Columns: ``timestamp, item_id, reward, propensity, cycle_id`` (the layout
``adcluster ope --log`` reads).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

UNITS_PER_DECISION = 20  # budget units drawn from each logged allocation


def bandit_log(
    decisions: Sequence[Any], *, rng: np.random.Generator, units: int = UNITS_PER_DECISION
) -> pd.DataFrame:
    """Labelled ``allocation_decisions`` rows (any objects with ``cycle_id, ad_id,
    propensity, reward, decided_at``) as a bandit log of ``units`` rows per allocation."""
    by_cycle: dict[str, list[Any]] = {}
    for d in decisions:
        if d.reward is not None:
            by_cycle.setdefault(d.cycle_id, []).append(d)
    rows: list[tuple[Any, str, float, float, str]] = []
    for cycle_id, group in by_cycle.items():
        p = np.array([d.propensity for d in group], dtype=float)
        if p.sum() <= 0:
            continue
        p = p / p.sum()
        for k in rng.choice(len(group), size=units, p=p):
            d = group[k]
            rows.append((d.decided_at, d.ad_id, float(d.reward), float(p[k]), cycle_id))
    return pd.DataFrame(rows, columns=["timestamp", "item_id", "reward", "propensity", "cycle_id"])
