"""``adcluster up`` / ``down`` end to end: a real local head, the app, a key, then a clean stop."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from core.config import REPO_ROOT
from tests.conftest import free_port

pytestmark = pytest.mark.heavy
ADCLUSTER = str(Path(sys.executable).with_name("adcluster"))


def renamed_catalogue(config_dir: Path) -> dict[str, str]:
    """A copy of configs/ whose catalogue gives every actor a new Ray name; role -> name."""
    shutil.copytree(REPO_ROOT / "configs", config_dir)
    path = config_dir / "actors.yaml"
    data = yaml.safe_load(path.read_text())
    names = {}
    for role, spec in data["actors"].items():
        spec["name"] = names[role] = f"{spec['name']}_renamed"
    path.write_text(yaml.safe_dump(data))
    return names


def test_up_serves_then_down_stops_only_its_head(tmp_path: Path) -> None:
    """With a catalogue whose actors were renamed: up, /readyz and down follow it."""
    head, api = free_port(), free_port()
    names = renamed_catalogue(tmp_path / "configs")
    env = {
        **os.environ,
        "ADCLUSTER_CONFIG_DIR": str(tmp_path / "configs"),
        "ADCLUSTER_DATA_DIR": str(tmp_path),
        "ADCLUSTER_RAY__HEAD_PORT": str(head),
        "ADCLUSTER_RAY__NAMESPACE": "adc-up-test",
    }
    env.pop("DATABASE_URL", None)
    try:
        up = subprocess.run(
            [ADCLUSTER, "up", "--port", str(api)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert up.returncode == 0, up.stdout + up.stderr
        key = re.search(r"(adc_[0-9a-f]{8}_\S+)", up.stdout)
        assert key, up.stdout
        base = f"http://127.0.0.1:{api}"
        ready = httpx.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert {r: a["name"] for r, a in ready.json()["actors"].items()} == names
        assert all(a["state"] == "alive" for a in ready.json()["actors"].values())
        assert httpx.get(f"{base}/api/ml/rag/memory-stats", timeout=10).status_code == 401
        ok = httpx.get(
            f"{base}/api/ml/rag/memory-stats",
            headers={"Authorization": f"Bearer {key.group(1)}"},
            timeout=10,
        )
        assert ok.status_code == 200 and ok.json()["winner_count"] == 0
    finally:
        down = subprocess.run(
            [ADCLUSTER, "down", "--stop-ray"], env=env, capture_output=True, text=True, timeout=300
        )
    assert down.returncode == 0, down.stdout + down.stderr
    assert "stopped the local Ray head" in down.stdout
    for name in names.values():
        assert f"stopped {name}\n" in down.stdout
    flag = f"--gcs_server_port={head}"
    assert not any(flag in (p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"]))


def test_up_rejects_unknown_proxy(tmp_path: Path) -> None:
    env = {**os.environ, "ADCLUSTER_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [ADCLUSTER, "up", "--proxy", "nginx"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "unknown proxy" in result.stderr
