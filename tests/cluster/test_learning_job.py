"""``python -m cluster.learning_job``: a cycle already running for the tenant is exit 4 with
its id in the ``RESULT`` line (the completed case: tests/actors/test_learning_ray.py)."""

from __future__ import annotations

import pytest

from cluster.learning_job import main
from core.db import learning as repo
from core.db.engine import Database
from core.job_entry import parse_result
from core.settings import Settings


@pytest.mark.ray
def test_a_running_cycle_is_exit_4(
    ray_session: None,
    make_settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings: Settings = make_settings("sqlite")
    monkeypatch.setenv("DATABASE_URL", settings.db_url)
    monkeypatch.setenv("ADCLUSTER_DATA_DIR", settings.data_dir)
    monkeypatch.setenv("ADCLUSTER_RAY__NAMESPACE", settings.ray.namespace)
    assert main([]) == 0  # the orchestrator is up and has run a cycle
    assert parse_result(capsys.readouterr().out)["status"] == "completed"
    db = Database(settings.db_url)
    try:
        with db.session() as s:  # another owner's cycle, still running
            running = repo.start_cycle(
                s, tenant_id="default", trigger="api", owner="elsewhere"
            ).cycle_id
    finally:
        db.dispose()
    assert main(["--tenant", "default"]) == 4
    result = parse_result(capsys.readouterr().out)
    assert result == {"status": "already_running", "cycle_id": running}
    assert main(["--tenant"]) == 2
    assert "expected one argument" in parse_result(capsys.readouterr().out)["error"]
