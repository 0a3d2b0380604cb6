"""Batches on the session's Ray instance: parallel and in order, failures isolated."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.video.io import probe
from serve_apps.video.batch import OperationSpec, run_batch, run_batch_sync

pytestmark = pytest.mark.ray

OPS = [
    OperationSpec(type="trim", video_path="a.mp4", config={"start_s": 0.5}),
    OperationSpec(type="scene_detect", video_path="b.mp4"),
    OperationSpec(type="trim", video_path="broken.mp4"),
    OperationSpec(type="resize", video_path="../a.mp4", config={"preset": "1:1"}),
    OperationSpec(type="color_grade", video_path="a.mp4", config={"preset": "cool"}),
]


def check(result) -> None:
    assert result.total == 5 and result.successful == 3 and result.status == "partial"
    ops = [r["operation"] for r in result.results]
    assert ops == ["trim", "scene_detect", "trim", "resize", "color_grade"]
    assert [r["status"] for r in result.results] == [
        "success",
        "success",
        "failed",
        "failed",
        "success",
    ]
    assert "not a readable video" in result.results[2]["error"]
    assert "'..'" in result.results[3]["error"]
    assert probe(result.results[0]["output_path"]).frame_count == 10
    assert result.results[1]["data"]["scene_count"] == 2
    for r in result.results:
        for out in r["outputs"]:
            assert Path(out).is_file()


def test_parallel_batch_isolates_failures(ray_session, run_ctx):
    seen: list[int] = []
    result = asyncio.run(
        run_batch(OPS, run_ctx, parallel=True, on_result=lambda i, _r: seen.append(i))
    )
    check(result)
    assert sorted(seen) == list(range(5))


def test_sequential_batch_runs_in_order(ray_session, run_ctx):
    seen: list[int] = []
    result = run_batch_sync(OPS, run_ctx, parallel=False, on_result=lambda i, _r: seen.append(i))
    check(result)
    assert seen == list(range(5))
