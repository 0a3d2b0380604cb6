"""``python -m training.run`` in-process: one ``RESULT`` line with ``status`` and the shared
exit codes (0 trained and decided, 1 a failed run, 2 bad arguments)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.job_entry import parse_result
from core.settings import Settings
from training.run import main


@pytest.fixture
def job_env(make_settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings: Settings = make_settings("sqlite")
    monkeypatch.setenv("DATABASE_URL", settings.db_url)
    monkeypatch.setenv("ADCLUSTER_DATA_DIR", settings.data_dir)
    return settings


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--kind", "roas"], "invalid choice: 'roas'"),
        (["--rows", "0", "--source", "synthetic"], "--rows must be at least 1"),
        (["--num-samples", "many"], "invalid int value: 'many'"),
    ],
)
def test_bad_arguments_exit_2_with_a_result(
    job_env: Settings, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    result = parse_result(capsys.readouterr().out)
    assert result["status"] == "invalid" and message in result["error"]


@pytest.mark.ray
def test_a_run_without_enough_data_fails_with_exit_1(
    ray_session: None, job_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--source", "database"]) == 1  # an empty database
    result = parse_result(capsys.readouterr().out)
    assert result["status"] == "failed" and "usable rows" in result["error"]


@pytest.mark.ray
def test_a_synthetic_run_trains_and_promotes(
    ray_session: None, job_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--source", "synthetic", "--rows", "400", "--num-samples", "2", "--max-rounds", "10"]
    assert main(argv) == 0
    result = parse_result(capsys.readouterr().out)
    assert result["status"] == "completed" and result["decision"]["action"] == "promoted"
    assert len(result["trials"]) == 2
    assert all(t["device"] == "cpu" and t["node_id"] for t in result["trials"])
