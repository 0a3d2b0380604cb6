"""``ray job submit -- python -m training.run`` and ``-- python -m cluster.learning_job``:
submitted with Ray's job submission client to a local head (with a dashboard), the jobs
train and decide, and run a learning cycle, and print their results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster import runtime
from core.config import REPO_ROOT
from core.settings import Settings
from tests.conftest import free_port

pytestmark = pytest.mark.heavy


def test_training_entry_point_as_a_ray_job(tmp_path: Path, monkeypatch) -> None:
    from ray.job_submission import JobStatus, JobSubmissionClient

    # A head started by Ray 2.60 here runs in token mode (~/.ray/auth_token): so does the client.
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)  # restored after the test
    runtime.use_token_auth(create=True)

    port, dashboard = free_port(), free_port()
    settings = Settings.load(data_dir=str(tmp_path), ray={"head_port": port})
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    start = subprocess.run(
        [
            runtime._ray_bin(),
            "start",
            "--head",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--include-dashboard=true",
            f"--dashboard-port={dashboard}",
            # the session's in-process Ray may hold the agent's default port (52365): its job
            # agent would then never come up ("No available agent to submit job")
            f"--dashboard-agent-listen-port={free_port()}",
            "--num-cpus=2",
            "--disable-usage-stats",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert start.returncode == 0, start.stderr[-2000:]
    env_vars = {
        "PYTHONPATH": str(REPO_ROOT),
        "ADCLUSTER_DATA_DIR": str(tmp_path),
        "RAY_USAGE_STATS_ENABLED": "0",
    }

    def submit(entrypoint: str) -> str:
        """Submit once the head's job agent answers (it starts after the head)."""
        deadline = time.monotonic() + 90
        while True:
            try:
                return client.submit_job(entrypoint=entrypoint, runtime_env={"env_vars": env_vars})
            except RuntimeError as exc:
                if "No available agent" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def result_of(job: str) -> dict:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status = client.get_job_status(job)
            if status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED):
                break
            time.sleep(1)
        logs = client.get_job_logs(job)
        assert status == JobStatus.SUCCEEDED, logs[-3000:]
        line = next(x for x in reversed(logs.splitlines()) if x.startswith("RESULT "))
        return json.loads(line[len("RESULT ") :])

    try:
        client = JobSubmissionClient(f"http://127.0.0.1:{dashboard}")
        result = result_of(
            submit(
                f"{sys.executable} -m training.run --kind ctr --source synthetic "
                "--rows 600 --num-samples 2 --max-rounds 20"
            )
        )
        assert result["decision"]["action"] == "promoted" and len(result["trials"]) == 2
        assert (tmp_path / "models" / "default" / "ctr" / "ctr-0001.ubj").is_file()

        cycle = result_of(submit(f"{sys.executable} -m cluster.learning_job --tenant default"))
        assert cycle["status"] == "completed" and cycle["trigger"] == "job"
        assert len(cycle["steps"]) == 7
    finally:
        runtime.stop_local_head(settings)
