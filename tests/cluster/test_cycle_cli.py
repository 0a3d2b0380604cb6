"""``adcluster cycle run/status/history/show`` against a migrated SQLite database."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from cluster.cli import app
from core.db import learning as repo
from core.db.engine import Database
from core.settings import Settings

runner = CliRunner()


@pytest.fixture
def url(make_settings: Callable[..., Settings]) -> str:
    return make_settings("sqlite").db_url


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["cycle", *args])
    return result.exit_code, result.stdout, result.stderr


def test_run_status_history_show(url: str) -> None:
    code, out, _ = run("run", "--json", "--database-url", url)
    assert code == 0, out
    result = json.loads(out)
    assert result["status"] == "completed" and len(result["steps"]) == 7
    code, out, _ = run("run", "--database-url", url)  # the table
    assert code == 0 and "winner_refresh" in out and "auto_promotion" in out

    code, out, _ = run("status", "--json", "--database-url", url)
    status = json.loads(out)
    assert code == 0 and status["running"] is None and status["latest"]["trigger"] == "cli"

    code, out, _ = run("history", "--json", "--database-url", url)
    rows = json.loads(out)
    assert len(rows) == 2 and rows[1]["cycle_id"] == result["cycle_id"]

    code, out, _ = run("show", result["cycle_id"], "--json", "--database-url", url)
    assert code == 0 and json.loads(out)["cycle_id"] == result["cycle_id"]


def test_errors_are_messages_and_exit_codes(url: str) -> None:
    code, _, err = run("show", "nope", "--database-url", url)
    assert code == 1 and "no learning cycle nope" in err
    db = Database(url)
    with db.session() as s:
        busy = repo.start_cycle(s, tenant_id="default", trigger="api", owner="x").cycle_id
    db.dispose()
    code, _, err = run("run", "--database-url", url)
    assert code == 4 and busy in err
    code, out, _ = run("status", "--database-url", url)
    assert code == 0 and busy in out
    code, _, err = run("history", "--database-url", "sqlite:////nonexistent/dir/x.db")
    assert code != 0 and "error" in err


def test_export_decisions_feeds_adcluster_ope(url: str, tmp_path) -> None:  # noqa: ANN001
    from core.db.models import AllocationDecision

    db = Database(url)
    with db.session() as s:
        for c in range(30):
            for ad, share, reward in (("a1", 0.7, 2.5), ("a2", 0.3, 1.0)):
                s.add(
                    AllocationDecision(
                        tenant_id="default",
                        cycle_id=f"c{c}",
                        experiment_id="e1",
                        ad_id=ad,
                        policy="p",
                        propensity=share,
                        reward=reward + 0.01 * c,
                    )
                )
    db.dispose()
    out = tmp_path / "log.csv"
    code, text, err = run(
        "export-decisions", "--experiment", "e1", "--out", str(out), "--database-url", url
    )
    assert code == 0, err
    assert "600 rows from 30 allocations" in text
    result = runner.invoke(app, ["ope", "--policy", "uniform", "--log", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    # uniform over a1 (~2.65) and a2 (~1.15) is worth ~1.9; the 70/30 logging policy ~2.2
    assert 1.7 < report["estimates"]["snips"]["value"] < 2.1
    assert 2.0 < report["logged"]["value"] < 2.4
    code, _, err = run(
        "export-decisions", "--experiment", "nope", "--out", str(out), "--database-url", url
    )
    assert code == 1 and "no labelled decisions" in err
