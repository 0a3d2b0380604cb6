"""Settings: values from configs/settings.yaml, environment overrides, validation."""

from __future__ import annotations

import pytest

from core.config import ConfigError
from core.settings import Settings


def test_values_from_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    s = Settings.load()
    assert s.winner.min_ctr == 0.03 and s.winner.min_impressions == 1000
    assert s.db_url.startswith("sqlite:///") and s.db_url.endswith("adcluster.db")


def test_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("ADCLUSTER_WINNER__MIN_ROAS", "2.5")
    monkeypatch.setenv("ADCLUSTER_HTTP__WORKER_NICENESS", "null")
    s = Settings.load()
    assert s.db_url == "postgresql+psycopg://u@h/db" and s.is_postgres
    assert s.winner.min_roas == 2.5 and s.http.worker_niceness is None


def test_round_trip_through_overrides() -> None:
    s = Settings.load(winner={"min_ctr": 0.04}, data_dir="/tmp/x")
    t = Settings.from_overrides(s.to_overrides())
    assert t.winner.min_ctr == 0.04 and t.db_url == s.db_url
    assert t.winner.min_impressions == 1000  # a nested override keeps the other keys


def test_invalid_threshold_rejected() -> None:
    with pytest.raises(ConfigError, match=r"settings\.yaml: winner\.min_ctr"):
        Settings.load(winner={"min_ctr": 2})


def test_misspelt_env_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADCLUSTER_WINNER__MIN_CTRR", "0.1")
    with pytest.raises(ConfigError, match="ADCLUSTER_WINNER__MIN_CTRR.*'winner.min_ctrr'"):
        Settings.load()


def test_settings_are_immutable() -> None:
    s = Settings.load()
    with pytest.raises(Exception, match="frozen"):
        s.api.max_batch_rows = 1  # type: ignore[misc]
    assert s.replace(api={"max_batch_rows": 7}).api.max_batch_rows == 7
