"""On a local multi-node cluster (ray.cluster_utils.Cluster) where one node declares a GPU,
GPU-capable operations land on that node. Runs in its own process so it never clashes with
the session's Ray instance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.video import get_video_config

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.timeout(180)
def test_gpu_marked_operations_land_on_the_gpu_node(tmp_path):
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.serve_apps.video._gpu_cluster_script", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["cluster_gpus"] == 1 and report["gpu_node"] != report["head_node"]
    gpu_capable = set(get_video_config().gpu_capable)
    results = report["results"]
    assert all(r["status"] == "success" for r in results), results
    for r in results:
        if r["operation"] in gpu_capable:
            assert r["node_id"] == report["gpu_node"], r
    assert any(r["operation"] not in gpu_capable for r in results)
    # the declared GPU is not a real one: NVDEC/NVENC were tried there and the CPU codecs ran
    graded = next(r for r in results if r["operation"] == "color_grade")
    assert graded["codecs"]["encoder"] == "libx264" and graded["codecs"]["decoder"] == "h264"
    assert any("h264_nvenc" in f for f in graded["codecs"]["gpu_fallbacks"])
