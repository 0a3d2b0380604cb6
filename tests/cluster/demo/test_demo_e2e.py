"""``adcluster demo`` end to end through the CLI with small knobs (10 creatives, 2 simulated
days): every phase ran, and the report says how the platform did against the uniform
baseline (too short a campaign to require a lift; the default one's is in docs/demo.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cluster.demo.history import History
from core.config import REPO_ROOT
from tests.conftest import free_port

pytestmark = pytest.mark.heavy


@pytest.mark.timeout(900)
def test_the_demo_runs_a_campaign_and_reports_it(tmp_path: Path) -> None:
    env = {**os.environ, "ADCLUSTER_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL", None)  # the embedded default: SQLite under the data dir
    cmd = [sys.executable, "-m", "cluster.cli", "demo", "--creatives", "10", "--days", "2"]
    run = subprocess.run(
        [*cmd, "--seed", "3", "--port", str(free_port())],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    report = tmp_path / "data" / "report" / "report.html"
    assert str(report) in run.stdout.replace("\n", "")
    history = History.read(report.parent / "history.json")
    seen = (
        f"changes {history.changes}, cycles {history.cycles}, lift {history.lift:.3f}, "
        f"models {[(m.version, m.decision) for m in history.models]}"
    )
    # the campaign: 2 days of hours, a cycle each, all completed
    assert len(history.hours) == 48 and history.cycles == {"completed": 48}, seen
    # creatives measured by creative_features and published through the executor
    assert len(history.creatives) == 10
    assert all(len(c.features) == 16 for c in history.creatives)
    # winners found by the trigger and indexed by the job consumer
    assert history.hours[-1].winners_indexed > 0
    # the executor applied the cycles' changes (beyond the 10 publishes), none rejected
    assert history.changes.get("applied", 0) > 10 and "rejected" not in history.changes, seen
    assert sum(h.changes_applied for h in history.hours) > 0
    # one model per round (both started when the campaign ended), the first promoted
    assert [m.version for m in history.models] == ["ctr-0001", "ctr-0002"], seen
    assert history.models[0].decision == "promoted"
    # the baseline is the same market until the platform's first change took effect
    assert history.markets_differ_from_h is not None
    assert history.markets_differ_from_h >= 1
    # the report says where the platform stands against it. Two days of 10 creatives are
    # mostly exploration (0.997x to 1.15x in runs so far; the default week of 24 creatives:
    # 1.35x to 1.49x, docs/demo.md), so only a clear loss fails here
    text = report.read_text()
    assert f"Revenue lift: {history.lift:.3f}x" in text
    verdict = "is ahead of the uniform" if history.lift > 1 else "is not ahead of the uniform"
    assert verdict in text
    assert history.lift > 0.95, f"well behind the uniform baseline: {seen}"
