"""``adcluster status``: against the test session's running cluster (a separate process joins
it, as an operator's shell would), and against addresses where no cluster answers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from actors import catalogue
from cluster.cli import app
from core.config import REPO_ROOT
from core.db import jobs
from core.db.engine import Database
from core.db.models import PendingJob, utcnow
from core.settings import Settings
from tests.conftest import free_port
from tests.support.ctr_models import register_ctr_model

runner = CliRunner()


def adcluster(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """``adcluster ARGS`` in a new process, with the session app's settings."""
    import ray

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
        "DATABASE_URL": settings.db_url,
        "ADCLUSTER_DATA_DIR": str(settings.data_path),
        "ADCLUSTER_RAY__NAMESPACE": settings.ray.namespace,
    }
    address = ray.get_runtime_context().gcs_address
    return subprocess.run(
        [sys.executable, "-m", "cluster.cli", "status", "--address", address, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )


@pytest.fixture(scope="module")
def tenant(tenant_client: Callable[..., httpx.Client], app_settings: Settings) -> str:
    """A tenant with a learning cycle and a CTR champion."""
    tenant_id = f"t-status-{uuid.uuid4().hex[:6]}"
    r = tenant_client(tenant_id).post("/api/ml/self-learning-cycle", json={"wait_s": 60})
    assert r.status_code == 200, r.text
    register_ctr_model(app_settings, tenant_id, rounds=5)
    return tenant_id


@pytest.fixture
def parked_jobs(app_settings: Settings) -> Iterator[int]:
    """Two jobs due in an hour (they stay pending); the count of pending jobs with them."""
    db = Database(app_settings.db_url)
    try:
        with db.session() as s:
            ids = [jobs.enqueue(s, "status_test", {}, tenant_id="t-status") for _ in range(2)]
            later = utcnow() + timedelta(hours=1)
            s.execute(update(PendingJob).where(PendingJob.id.in_(ids)).values(run_after=later))
        with db.session() as s:
            pending = jobs.open_counts(s)["pending"]
        yield pending
        with db.session() as s:
            s.execute(update(PendingJob).where(PendingJob.id.in_(ids)).values(status="done"))
    finally:
        db.dispose()


def test_status_of_the_running_cluster(
    gateway_url: str, app_settings: Settings, tenant: str, parked_jobs: int
) -> None:
    result = adcluster(app_settings, "--json", "--tenant", tenant)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["healthy"] is True and report["tenant_id"] == tenant

    (node,) = report["nodes"]
    assert node["alive"] and node["head"] and node["cpus"] == 2 and node["gpus"] == 0
    actors = {a["role"]: a for a in report["actors"]}
    assert set(actors) == set(catalogue.roles())
    for role, actor in actors.items():
        assert actor["state"] == "alive", role
        assert actor["node"] == node["address"] and actor["pid"] > 0
        assert actor["name"] == catalogue.load().spec(role).name

    serve = report["serve"]["adcluster"]
    assert serve["status"] == "RUNNING"
    assert serve["deployments"]["Gateway"] == {"status": "HEALTHY", "replicas": {"RUNNING": 2}}

    db = report["database"]
    assert db["ok"] and db["queue"]["pending_jobs"]["pending"] == parked_jobs >= 2
    assert set(db["queue"]["pending_ad_changes"]) == {"pending", "claimed"}
    assert db["last_cycle"]["status"] == "completed" and db["last_cycle"]["trigger"] == "api"
    assert db["champions"] == [
        {"kind": "ctr", "version": "ctr-0001", "promoted_at": db["champions"][0]["promoted_at"]}
    ]

    tables = adcluster(app_settings, "--tenant", tenant)
    assert tables.returncode == 0, tables.stderr
    for text in ("nodes", "job_consumer", "alive", "ctr ctr-0001", "status: healthy"):
        assert text in tables.stdout, text


def test_a_missing_actor_is_reported_and_exits_3(gateway_url: str, app_settings: Settings) -> None:
    assert catalogue.kill("pro_video_jobs", app_settings)
    try:
        result = adcluster(app_settings, "--json")
        assert result.returncode == 3, result.stdout + result.stderr
        report = json.loads(result.stdout)
        states = {a["role"]: a["state"] for a in report["actors"]}
        assert states["pro_video_jobs"] == "missing" and states["job_consumer"] == "alive"
        assert report["healthy"] is False
    finally:
        catalogue.start_all(app_settings)  # as `adcluster up` (and the gateway, on next use)


def test_no_cluster_is_a_clear_error() -> None:
    port = free_port()  # nothing listens there
    result = runner.invoke(app, ["status", "--address", f"127.0.0.1:{port}", "--timeout", "2"])
    assert result.exit_code == 1
    assert f"no Ray cluster at 127.0.0.1:{port}" in result.stderr


def test_another_service_on_the_port_is_not_a_cluster() -> None:
    """Something that is not Ray (like the Redis on 6379 here) answers: refused fast."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(64)
            conn.sendall(b"-ERR unknown command\r\n")

    threading.Thread(target=answer, daemon=True).start()
    try:
        result = runner.invoke(app, ["status", "--address", f"127.0.0.1:{port}"])
    finally:
        server.close()
    assert result.exit_code == 1
    assert "something else listens there" in result.stderr


@pytest.mark.parametrize("address", ["nohost", "127.0.0.1:", "127.0.0.1:99999", ":6390"])
def test_a_malformed_address_is_exit_2(address: str) -> None:
    result = runner.invoke(app, ["status", "--address", address])
    assert result.exit_code == 2 and "host:port" in result.stderr
