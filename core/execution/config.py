"""``configs/executor.yaml``: how the safe executor polls, claims, retries and sends."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from core.config import ConfigModel, load_config


class ExecutorConfig(ConfigModel):
    """All of ``configs/executor.yaml`` (values and comments there)."""

    poll_interval_s: float = Field(gt=0)
    listen: bool
    batch_size: int = Field(ge=1, le=50)
    lease_s: float = Field(gt=0)
    max_attempts: int = Field(ge=1)
    backoff_base_s: float = Field(ge=0)
    backoff_max_s: float = Field(ge=0)
    graph_batch: bool
    defer_window_rejections: bool
    meta_tenants: list[str]

    @model_validator(mode="after")
    def _check(self) -> ExecutorConfig:
        if self.backoff_base_s > self.backoff_max_s:
            raise ValueError("need backoff_base_s <= backoff_max_s")
        return self

    @classmethod
    def load(cls, path: Path | None = None) -> ExecutorConfig:
        return load_config("executor.yaml", cls, path=path)
