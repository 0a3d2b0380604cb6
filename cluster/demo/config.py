"""``configs/demo.yaml``: the demo's campaign, waits, training round, report, and the
environment of the cluster it starts."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from pydantic import Field, field_validator

from core.config import ConfigModel, load_config


class CampaignKnobs(ConfigModel):
    creatives: int = Field(ge=10, le=200)  # training needs 10 rows: one an ad
    days: int = Field(ge=1, le=60)
    seed: int = Field(ge=0, le=2**31 - 1)
    daily_budget_minor: int = Field(ge=100)
    launch_per_hour: int = Field(ge=1)
    start_margin_h: int = Field(ge=1)


class VideoKnobs(ConfigModel):
    batch_size: int = Field(ge=1, le=50)
    timeout_s: float = Field(gt=0)


class TrainingKnobs(ConfigModel):
    after_days: list[float] = Field(min_length=1)
    num_samples: int = Field(ge=1, le=256)

    @field_validator("after_days")
    @classmethod
    def _ordered(cls, v: list[float]) -> list[float]:
        if any(d < 0 for d in v) or v != sorted(v):
            raise ValueError("after_days must be days >= 0 in increasing order")
        return v

    max_rounds: int = Field(ge=1, le=5000)
    timeout_s: float = Field(gt=0)


class WaitKnobs(ConfigModel):
    cycle_s: float = Field(gt=0, le=600)
    executor_s: float = Field(gt=0)
    poll_s: float = Field(gt=0)


class ReportKnobs(ConfigModel):
    folder: str = Field(min_length=1)


class DemoConfig(ConfigModel):
    """All of ``configs/demo.yaml``."""

    campaign: CampaignKnobs
    video: VideoKnobs
    training: TrainingKnobs
    waits: WaitKnobs
    report: ReportKnobs
    cluster: dict[str, str]

    @field_validator("cluster")
    @classmethod
    def _env_names(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [k for k in v if not k.startswith("ADCLUSTER_")]
        if bad:
            raise ValueError(f"cluster overrides must be ADCLUSTER_ variables: {', '.join(bad)}")
        return v

    @classmethod
    def load(cls, path: Path | None = None, **overrides: object) -> DemoConfig:
        return load_config("demo.yaml", cls, path=path, overrides=overrides or None)


@contextlib.contextmanager
def cluster_env(config: DemoConfig) -> Iterator[dict[str, str]]:
    """The cluster's overrides in ``os.environ`` (Ray workers started now inherit them);
    the environment as it was afterwards."""
    before = {k: os.environ.get(k) for k in config.cluster}
    os.environ.update(config.cluster)
    try:
        yield dict(config.cluster)
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
