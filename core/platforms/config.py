"""``configs/platforms.yaml``: which adapter, the Meta Graph API settings, the simulator model."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from core.config import ConfigModel, load_config


class MetaConfig(ConfigModel):
    api_version: str = Field(pattern=r"^v\d+\.\d+$")
    graph_url: str
    video_graph_url: str
    timeout_s: float = Field(gt=0)
    batch_size: int = Field(ge=1, le=50)
    max_attempts: int = Field(ge=1)
    backoff_base_s: float = Field(ge=0)
    backoff_max_s: float = Field(ge=0)
    slow_down_at_pct: float = Field(gt=0, le=100)
    max_slow_down_s: float = Field(ge=0)
    max_throttle_wait_s: float = Field(ge=0)
    secrets_file: str | None
    token_env_prefix: str = Field(min_length=1)
    accounts_env_prefix: str = Field(min_length=1)
    page_env_prefix: str = Field(min_length=1)


class SimulatorConfig(ConfigModel):
    seed: int
    start: str  # ISO time of the simulated clock's start (UTC)
    base_ctr: float = Field(gt=0, lt=1)
    base_cvr: float = Field(gt=0, lt=1)
    base_order_value: float = Field(gt=0)
    feature_effect_sd: float = Field(ge=0)
    cta_effect_sd: float = Field(ge=0)
    ad_effect_sd: float = Field(ge=0)
    order_value_effect_sd: float = Field(ge=0)
    order_value_sd: float = Field(ge=0)
    cpm: float = Field(gt=0)
    saturation_impressions: float = Field(gt=0)
    seasonality_amplitude: float = Field(ge=0, lt=1)
    peak_hour: float = Field(ge=0, lt=24)
    fatigue_impressions: float = Field(gt=0)
    fatigue_floor: float = Field(ge=0, le=1)
    minor_per_major: int = Field(ge=1)
    live_hours_per_hour: float = Field(gt=0)
    clock: Literal["live", "stepped"]


class PlatformsConfig(ConfigModel):
    """All of ``configs/platforms.yaml``."""

    adapter: Literal["simulator", "meta"]
    meta: MetaConfig
    simulator: SimulatorConfig

    @model_validator(mode="after")
    def _check(self) -> PlatformsConfig:
        if self.meta.backoff_base_s > self.meta.backoff_max_s:
            raise ValueError("need meta.backoff_base_s <= meta.backoff_max_s")
        return self

    @classmethod
    def load(cls, path: Path | None = None) -> PlatformsConfig:
        return load_config("platforms.yaml", cls, path=path)
