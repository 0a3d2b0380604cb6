"""``configs/training.yaml``: datasets, features, Ray Tune search, promotion rule, registry."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator

from core.config import ConfigModel, load_config


class DatasetConfig(ConfigModel):
    snapshot_dir: str = Field(min_length=1)
    holdout_fraction: float = Field(gt=0, lt=0.9)
    validation_fraction: float = Field(gt=0, lt=0.9)
    min_rows: int = Field(ge=10)
    min_impressions: int = Field(ge=1)


class FeatureConfig(ConfigModel):
    video_dim: int = Field(ge=0, le=4096)
    hash_buckets: int = Field(ge=1, le=1024)


class Dimension(ConfigModel):
    """One hyperparameter's search range."""

    kind: Literal["loguniform", "uniform", "randint"]
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Dimension:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.kind == "loguniform" and self.low <= 0:
            raise ValueError("loguniform needs low > 0")
        return self


class TuneConfig(ConfigModel):
    num_samples: int = Field(ge=1)
    max_concurrent_trials: int = Field(ge=1)
    cpus_per_trial: float = Field(gt=0)
    gpus_per_trial: float = Field(ge=0)
    max_rounds: int = Field(ge=1)
    rounds_per_report: int = Field(ge=1)
    grace_period: int = Field(ge=1)
    reduction_factor: float = Field(gt=1)
    seed: int
    search_space: dict[str, Dimension]


class PromotionConfig(ConfigModel):
    margin: float = Field(ge=0, lt=1, description="Relative loss improvement required.")
    bootstrap_samples: int = Field(ge=100)
    confidence: float = Field(gt=0.5, lt=1)
    seed: int
    calibration_bins: int = Field(ge=2)


class RegistryConfig(ConfigModel):
    artifact_dir: str = Field(min_length=1)


class TrainingConfig(ConfigModel):
    dataset: DatasetConfig
    features: FeatureConfig
    tune: TuneConfig
    promotion: PromotionConfig
    registry: RegistryConfig

    @classmethod
    def load(cls, **overrides: object) -> TrainingConfig:
        return load_config("training.yaml", cls, overrides=overrides)

    def replace(self, **changes: object) -> TrainingConfig:
        from core.config import deep_merge

        return TrainingConfig.model_validate(deep_merge(self.model_dump(), changes))


@lru_cache(maxsize=1)
def training_config() -> TrainingConfig:
    """``configs/training.yaml`` (read once per process)."""
    return TrainingConfig.load()
