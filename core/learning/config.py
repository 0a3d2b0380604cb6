"""``configs/learning.yaml``: the self-learning cycle's schedule and each loop's settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from core.config import ConfigModel, load_config


class ScheduleConfig(ConfigModel):
    enabled: bool
    interval_s: float = Field(gt=0)
    tick_s: float = Field(gt=0)
    first_delay_s: float = Field(ge=0)


class CycleConfig(ConfigModel):
    heartbeat_s: float = Field(gt=0)
    stale_after_s: float = Field(gt=0)
    wait_s: float = Field(ge=0)


class WinnerRefreshConfig(ConfigModel):
    reembed: bool


class ThompsonUpdateConfig(ConfigModel):
    add_new_ads: bool
    retire_statuses: list[str]
    min_arms: int = Field(ge=1)


class CompoundConfig(ConfigModel):
    accuracy_threshold: float = Field(ge=0, le=1)
    retrain_after_labels: int = Field(ge=1)
    retrain_cooldown_h: float = Field(ge=0)
    min_labelled: int = Field(ge=1)
    label_min_impressions: int = Field(ge=1)
    label_window_h: float = Field(gt=0)


class ActualsConfig(ConfigModel):
    stale_after_s: float = Field(ge=0)
    max_ads: int = Field(ge=1)


class AutoPromoterConfig(ConfigModel):
    enabled: bool
    policy: str = Field(min_length=1, max_length=64)
    gate: bool
    gate_min_decisions: int = Field(ge=1)


class LearningConfig(ConfigModel):
    """All of ``configs/learning.yaml`` (values and comments there)."""

    schedule: ScheduleConfig
    cycle: CycleConfig
    winner_refresh: WinnerRefreshConfig
    thompson_update: ThompsonUpdateConfig
    compound: CompoundConfig
    actuals: ActualsConfig
    auto_promoter: AutoPromoterConfig

    @classmethod
    def load(cls, path: Path | None = None, **overrides: object) -> LearningConfig:
        return load_config("learning.yaml", cls, path=path, overrides=overrides or None)
