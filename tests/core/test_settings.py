"""Settings: YAML defaults, environment overrides, validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.settings import Settings


def test_defaults_from_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    s = Settings()
    assert s.winner.min_ctr == 0.03 and s.winner.min_impressions == 1000
    assert s.db_url.startswith("sqlite:///") and s.db_url.endswith("adcluster.db")


def test_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("ADCLUSTER_WINNER__MIN_ROAS", "2.5")
    s = Settings()
    assert s.db_url == "postgresql+psycopg://u@h/db" and s.is_postgres
    assert s.winner.min_roas == 2.5


def test_round_trip_through_overrides() -> None:
    s = Settings(winner={"min_ctr": 0.04}, data_dir="/tmp/x")
    t = Settings.from_overrides(s.to_overrides())
    assert t.winner.min_ctr == 0.04 and t.db_url == s.db_url


def test_invalid_threshold_rejected() -> None:
    with pytest.raises(ValidationError, match="min_ctr"):
        Settings(winner={"min_ctr": 2})
