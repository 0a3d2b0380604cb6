"""``serve deploy configs/serve.yaml`` (Ray Serve's own deploy path) on a local head answers.

The file is deployed as shipped except for its HTTP port; with no settings in ``args`` the
app builder migrates the database and starts the catalogue's actors itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from core.config import REPO_ROOT
from tests.conftest import free_port

pytestmark = pytest.mark.heavy
BIN = Path(sys.executable).parent


def run(*cmd: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def wait_for(url: str, status: int, timeout: float = 180) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url, timeout=5)
            if r.status_code == status:
                return r
            last = r.text[:300]
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(1)
    raise AssertionError(f"{url} never answered {status}: {last}")


def test_serve_deploy_of_the_shipped_config_answers(tmp_path: Path) -> None:
    head, dashboard, api = free_port(), free_port(), free_port()
    config = yaml.safe_load((REPO_ROOT / "configs" / "serve.yaml").read_text())
    config["http_options"]["port"] = api
    serve_yaml = tmp_path / "serve.yaml"
    serve_yaml.write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "ADCLUSTER_DATA_DIR": str(tmp_path),
        "ADCLUSTER_RAY__HEAD_PORT": str(head),
        "RAY_AUTH_MODE": "token",
    }
    env.pop("DATABASE_URL", None)
    http_env = run(str(BIN / "adcluster"), "http-env", env=env)
    assert http_env.returncode == 0, http_env.stderr
    for line in http_env.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    started = run(
        str(BIN / "ray"),
        "start",
        "--head",
        f"--port={head}",
        "--node-ip-address=127.0.0.1",
        "--include-dashboard=true",
        f"--dashboard-port={dashboard}",
        "--disable-usage-stats",
        env=env,
    )
    try:
        assert started.returncode == 0, started.stderr[-2000:]
        deployed = run(
            str(BIN / "serve"),
            "deploy",
            str(serve_yaml),
            "-a",
            f"http://127.0.0.1:{dashboard}",
            env=env,
        )
        assert deployed.returncode == 0, deployed.stdout[-2000:] + deployed.stderr[-2000:]
        base = f"http://127.0.0.1:{api}"
        ready = wait_for(f"{base}/readyz", 200).json()
        assert {a["state"] for a in ready["actors"].values()} == {"alive"}
        # The builder migrated the database: a key can be created in it now.
        key = run(str(BIN / "adcluster"), "keys", "create", "--name", "deploy-test", env=env)
        assert key.returncode == 0, key.stderr
        r = httpx.post(
            f"{base}/api/ml/predict/roas",
            headers={"Authorization": f"Bearer {key.stdout.strip()}"},
            json={
                "ad_id": "a",
                "current_ctr": 0.02,
                "current_roas": 2.0,
                "hours_live": 30,
                "daily_spend": 100,
            },
            timeout=30,
        )
        assert r.status_code == 200 and r.json()["ad_id"] == "a", r.text
    finally:
        down = run(str(BIN / "adcluster"), "down", "--stop-ray", env=env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "stopped serve app adcluster" in down.stdout
