"""What the demo saw, hour by hour: the report's input (``history.json`` next to it)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


@dataclass
class CreativeRow:
    """One creative as an ad: its copy, its measured features, its hidden value (the
    simulator's, shown in the report, never used by the platform)."""

    ad_id: str
    ad_set_id: str
    name: str
    video_path: str
    hook: str
    cta: str
    template: str
    features: dict[str, float]
    true_revenue_per_impression: float


@dataclass
class Hour:
    """The state after one simulated hour and what the platform did in it."""

    at: datetime  # simulated time at the end of the hour
    budgets: list[int]  # daily budget (minor units) of each creative's ad set, after the hour
    active: list[bool]  # each creative's ad ACTIVE after the hour
    revenue: float  # the platform's cumulative revenue (major units)
    spend: float
    baseline_revenue: float  # the uniform baseline's, same market
    baseline_spend: float
    winners_flagged: int  # ads the database trigger has flagged as winners so far
    winners_indexed: int  # winners in the winner memory (the job consumer indexed them)
    changes_applied: int  # changes the executor applied in this hour
    cycle_status: str  # the hour's learning cycle: completed | partial | failed


@dataclass
class ModelRow:
    """A model version of the tenant's registry, with its held-out metrics."""

    version: str
    status: str
    trained_after_h: float  # simulated hours of the campaign when its round started
    decision: str  # promoted | kept
    reason: str
    holdout_log_loss: float | None
    holdout_auc: float | None
    champion_log_loss: float | None
    holdout_rows: int | None


@dataclass
class History:
    tenant: str
    seed: int
    start: datetime  # simulated launch time
    launch_hours: int  # hours the launch took (publishes paced by the safety policy)
    creatives: list[CreativeRow]
    hours: list[Hour] = field(default_factory=list)
    models: list[ModelRow] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # wall seconds per phase
    changes: dict[str, int] = field(default_factory=dict)  # the tenant's changes by status
    cycles: dict[str, int] = field(default_factory=dict)  # cycles by status
    last_cycle: dict[str, Any] = field(default_factory=dict)
    markets_differ_from_h: int | None = None  # first hour whose insights differed

    @property
    def lift(self) -> float:
        """Platform revenue ÷ uniform baseline revenue over the campaign."""
        last = self.hours[-1]
        return last.revenue / last.baseline_revenue if last.baseline_revenue else float("nan")

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=_default))

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.to_json(), indent=1))
        return path

    @classmethod
    def read(cls, path: Path) -> History:
        return cls.from_json(json.loads(path.read_text()))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> History:
        d = dict(data)
        d["start"] = datetime.fromisoformat(d["start"])
        d["creatives"] = [CreativeRow(**c) for c in d["creatives"]]
        d["hours"] = [Hour(**{**h, "at": datetime.fromisoformat(h["at"])}) for h in d["hours"]]
        d["models"] = [ModelRow(**m) for m in d["models"]]
        return cls(**d)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")
