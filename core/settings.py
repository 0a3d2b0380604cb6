"""One typed settings object: ``configs/settings.yaml`` and the environment (see
:mod:`core.config` for the loader and the override rule)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from core.config import ConfigModel, load_config
from core.domain.winner import WinnerRule


class JobSettings(ConfigModel):
    poll_interval_s: float = Field(gt=0)
    batch_size: int = Field(ge=1)
    max_attempts: int = Field(ge=1)
    backoff_base_s: float = Field(ge=0)
    backoff_max_s: float = Field(ge=0)
    lease_s: float = Field(gt=0)
    linger_s: float = Field(
        ge=0, le=5, description="After a wake-up, wait this long so a batch can fill."
    )


class MemorySettings(ConfigModel):
    text_dim: int = Field(ge=8)
    embedder: Literal["auto", "hashed", "minilm"]
    video_dim: int = Field(ge=0)


class ApiSettings(ConfigModel):
    max_body_bytes: int = Field(ge=1024)
    max_batch_rows: int = Field(ge=1)
    require_api_key: bool = Field(
        description="False only for local experiments; refused in production."
    )
    key_cache_ttl_s: float = Field(
        ge=0, le=300, description="How long a verified key is trusted (revocation delay)."
    )
    default_rate_limit_per_min: int = Field(ge=0, description="For new keys; 0: no limit.")
    feedback_group_rows: int = Field(
        ge=1,
        description="Per-row feedback requests committed together in one transaction, at most.",
    )
    feedback_writers: int = Field(
        ge=1, le=16, description="Transactions of per-row feedback one replica runs at once."
    )
    feedback_notify_s: float = Field(
        ge=0, le=5, description="Sampler and job-consumer notifications coalesced this long."
    )
    ctr_calls_in_flight: int = Field(
        ge=1,
        le=64,
        description="CtrModel calls one gateway replica keeps in flight when it groups requests.",
    )


class PredictionLogSettings(ConfigModel):
    queue_size: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    flush_interval_s: float = Field(gt=0)
    max_in_flight: int = Field(ge=1)


class MetricsSettings(ConfigModel):
    """Prometheus figures, cluster-wide through Ray's metrics (docs/gateway.md#metrics)."""

    flush_interval_s: float = Field(
        gt=0, le=60, description="Replicas and actors add what they counted to Ray's metrics."
    )
    queue_depth_interval_s: float = Field(
        gt=0, le=600, description="The job consumer and the executors count their queues."
    )
    scrape_timeout_s: float = Field(gt=0, le=30, description="GET /metrics: per node.")
    cache_s: float = Field(ge=0, le=60, description="GET /metrics answers from a result this old.")


class RaySettings(ConfigModel):
    namespace: str = Field(min_length=1)
    head_port: int = Field(ge=1, le=65535)
    dashboard: bool


class MediaSettings(ConfigModel):
    media_root: str
    output_root: str


class HAProxySettings(ConfigModel):
    nbthread: int = Field(ge=1, le=64)
    maxconn: int = Field(ge=64)
    metrics: bool
    drain_period_s: float = Field(ge=0)
    timeout_server_s: int | None = Field(ge=1)
    access_log: str | None = Field(min_length=1)  # a syslog target, or None: no access log


class HttpSettings(ConfigModel):
    """How the cluster serves HTTP (read when Ray starts; docs/gateway.md)."""

    proxy: Literal["haproxy", "default"]
    worker_niceness: int | None = Field(ge=0, le=19)
    watch_disconnects: bool
    serve_metrics_interval_s: float = Field(gt=0, le=60)
    control_loop_interval_s: float = Field(gt=0, le=10)
    haproxy: HAProxySettings


class Settings(ConfigModel):
    """All runtime settings of adcluster (``configs/settings.yaml``)."""

    environment: Literal["local", "production"]
    data_dir: str
    database_url: str | None
    tenant_id: str = Field(min_length=1, max_length=64)
    winner: WinnerRule
    jobs: JobSettings
    memory: MemorySettings
    api: ApiSettings
    prediction_log: PredictionLogSettings
    metrics: MetricsSettings
    http: HttpSettings
    ray: RaySettings
    media: MediaSettings

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, v: str | None) -> str | None:
        if v and v.startswith(("postgres://", "postgresql://")):
            # Use psycopg 3 unless a driver was named.
            return "postgresql+psycopg://" + v.split("://", 1)[1]
        return v or None

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """``configs/settings.yaml`` + environment, with ``overrides`` (nested) merged last."""
        return load_config("settings.yaml", cls, overrides=overrides)

    # -- derived values -------------------------------------------------------------
    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    def resolve(self, path: str) -> Path:
        """A configured path: absolute as given, else under the data dir."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.data_path / p

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL in force (SQLite file under the data dir by default)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_path / 'adcluster.db'}"

    @property
    def is_postgres(self) -> bool:
        return self.db_url.startswith("postgresql")

    def to_overrides(self) -> dict[str, Any]:
        """Plain dict that rebuilds these settings in another process (actor, replica)."""
        data = self.model_dump(mode="json")
        data["data_dir"] = str(self.data_path)
        data["database_url"] = self.db_url
        return data

    @classmethod
    def from_overrides(cls, data: dict[str, Any]) -> Settings:
        return cls.model_validate(data)

    def replace(self, **changes: Any) -> Settings:
        """A copy with nested ``changes`` merged in (validated again)."""
        from core.config import deep_merge

        return type(self).model_validate(deep_merge(self.model_dump(), changes))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings.load()
