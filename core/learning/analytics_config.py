"""``configs/learning_analytics.yaml``: thresholds of the cross-learner and the creative DNA."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from core.config import ConfigModel, load_config


class CrossLearningConfig(ConfigModel):
    """Loop 3; the keys are the keyword arguments of ``cross_learning.feature_lift``."""

    min_ads: int = Field(ge=1)
    min_impressions: int = Field(ge=0)
    confidence: float = Field(gt=0, lt=1)
    bootstrap_rounds: int = Field(ge=10)
    max_insights: int = Field(ge=1)


class CreativeDnaConfig(ConfigModel):
    """Loop 4 (``creative_dna.extract_dna``)."""

    min_winners: int = Field(ge=2)
    min_others: int = Field(ge=2)
    n_estimators: int = Field(ge=1)
    max_depth: int = Field(ge=1, le=12)
    learning_rate: float = Field(gt=0, le=1)
    cv_folds: int = Field(ge=2)
    max_rules: int = Field(ge=0)


class LearningAnalyticsConfig(ConfigModel):
    """All of ``configs/learning_analytics.yaml`` (values and comments there)."""

    cross_learning: CrossLearningConfig
    creative_dna: CreativeDnaConfig

    @classmethod
    def load(cls, path: Path | None = None) -> LearningAnalyticsConfig:
        return load_config("learning_analytics.yaml", cls, path=path)
