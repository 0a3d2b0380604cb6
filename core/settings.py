"""One typed settings object, read from ``configs/settings.yaml`` and the environment.

Precedence (highest first): init kwargs, environment (``DATABASE_URL``,
``ADCLUSTER_<SECTION>__<KEY>``), ``$ADCLUSTER_CONFIG_DIR/settings.yaml``, defaults.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from core.domain.winner import WinnerRule

REPO_ROOT = Path(__file__).resolve().parent.parent


def config_dir() -> Path:
    """Folder holding the YAML configs (``ADCLUSTER_CONFIG_DIR`` or the repo's ``configs/``)."""
    return Path(os.environ.get("ADCLUSTER_CONFIG_DIR", REPO_ROOT / "configs"))


def read_yaml(name: str, path: Path | None = None, *, required: bool = False) -> dict[str, Any]:
    """A YAML config as a dict: ``path``, else ``config_dir()/name``; ``{}`` when absent."""
    path = path or config_dir() / name
    if not path.is_file():
        if required:
            raise FileNotFoundError(f"config file not found: {path}")
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


class JobSettings(BaseModel):
    poll_interval_s: float = Field(0.5, gt=0)
    batch_size: int = Field(10, ge=1)
    max_attempts: int = Field(5, ge=1)
    backoff_base_s: float = Field(1.0, ge=0)
    backoff_max_s: float = Field(60.0, ge=0)
    lease_s: float = Field(60.0, gt=0)


class MemorySettings(BaseModel):
    text_dim: int = Field(384, ge=8)
    embedder: Literal["auto", "hashed", "minilm"] = "auto"
    video_dim: int = Field(16, ge=0)


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    max_batch_rows: int = Field(5000, ge=1)
    require_api_key: bool = Field(
        True, description="False only for local experiments; refused in production."
    )
    key_cache_ttl_s: float = Field(
        5.0, ge=0, le=300, description="How long a verified key is trusted (revocation delay)."
    )
    default_rate_limit_per_min: int = Field(600, ge=0, description="For new keys; 0: no limit.")


class RaySettings(BaseModel):
    namespace: str = "adcluster"
    head_port: int = Field(6390, ge=1, le=65535)
    dashboard: bool = False


class MediaSettings(BaseModel):
    media_root: str = "media"
    output_root: str = "outputs"


class Settings(BaseSettings):
    """All runtime settings of adcluster."""

    model_config = SettingsConfigDict(
        env_prefix="ADCLUSTER_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    environment: Literal["local", "production"] = "local"
    data_dir: str = "data"
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("DATABASE_URL", "ADCLUSTER_DATABASE_URL", "database_url"),
    )
    tenant_id: str = "default"
    winner: WinnerRule = WinnerRule()
    jobs: JobSettings = JobSettings()
    memory: MemorySettings = MemorySettings()
    api: ApiSettings = ApiSettings()
    ray: RaySettings = RaySettings()
    media: MediaSettings = MediaSettings()

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, v: str | None) -> str | None:
        if v and v.startswith(("postgres://", "postgresql://")):
            # Use psycopg 3 unless a driver was named.
            return "postgresql+psycopg://" + v.split("://", 1)[1]
        return v or None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_source = YamlConfigSettingsSource(
            settings_cls, yaml_file=config_dir() / "settings.yaml"
        )
        return (init_settings, env_settings, yaml_source, file_secret_settings)

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
        return cls(**data)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
