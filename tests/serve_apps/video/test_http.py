"""The pro endpoints through the running gateway (Serve app of the test session)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from core.video.io import probe
from core.video.synth import square_clip

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def media_root(app_settings) -> Path:
    root = app_settings.resolve(app_settings.media.media_root)
    root.mkdir(parents=True, exist_ok=True)
    square_clip(root / "clip.mp4", duration_s=1.0, audio=True)
    square_clip(root / "cuts.mp4", duration_s=1.0, scene_cuts=1)
    (root / "empty.mp4").write_bytes(b"")
    (root / "notes.txt").write_text("plain text, not a video\n" * 40)
    (root / "corrupt.mp4").write_bytes((root / "clip.mp4").read_bytes()[:500])
    secret = root.parent / "secret.mp4"
    square_clip(secret, duration_s=0.5)
    link = root / "link.mp4"
    if not link.exists():
        os.symlink(secret, link)
    return root


def error_body(resp) -> dict:
    body = resp.json()
    assert set(body) == {"error", "details"} and body["error"]
    return body


def test_single_operation(client, media_root):
    resp = client.post("/api/pro/trim", json={"video_path": "clip.mp4", "config": {"start_s": 0.5}})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "success" and body["operation"] == "trim"
    info = probe(body["output_path"])
    assert info.frame_count == 10 and (info.width, info.height) == (160, 120)
    root = Path(media_root).parent
    assert Path(body["output_path"]).is_relative_to(root)


def test_hyphenated_types_are_accepted(client, media_root):
    one = client.post("/api/pro/color-grade", json={"video_path": "clip.mp4", "config": {}})
    assert one.status_code == 200, one.text
    assert one.json()["operation"] == "color_grade" and one.json()["status"] == "success"
    batch = client.post(
        "/api/pro/batch",
        json={
            "operations": [
                {"type": "scene-detect", "video_path": "cuts.mp4"},
                {"type": "hook_analysis", "video_path": "cuts.mp4"},
            ]
        },
    )
    assert batch.status_code == 200, batch.text
    assert [r["operation"] for r in batch.json()["results"]] == ["scene_detect", "hook_analysis"]
    assert batch.json()["successful"] == 2
    bad = client.post("/api/pro/color--grade", json={"video_path": "clip.mp4"})
    assert bad.status_code == 404 and "color_grade" in error_body(bad)["details"]["known"]


def test_batch_runs_all_and_isolates_failures(client, media_root):
    resp = client.post(
        "/api/pro/batch",
        json={
            "operations": [
                {
                    "type": "resize",
                    "video_path": "clip.mp4",
                    "config": {"preset": "9:16", "height": 64},
                },
                {"type": "scene_detect", "video_path": "cuts.mp4", "config": {}},
                {"type": "trim", "video_path": "missing.mp4", "config": {}},
            ],
            "parallel": True,
        },
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["total"] == 3 and body["successful"] == 2 and body["status"] == "partial"
    first, second, third = body["results"]
    assert (probe(first["output_path"]).width, probe(first["output_path"]).height) == (36, 64)
    assert second["data"]["scene_count"] == 2
    assert third["status"] == "failed" and "not found" in third["error"]


@pytest.mark.parametrize(
    "video_path", ["../secret.mp4", "/etc/passwd", "link.mp4", "sub/../../secret.mp4"]
)
def test_path_traversal_is_refused(client, media_root, video_path):
    one = client.post("/api/pro/trim", json={"video_path": video_path})
    assert one.status_code == 400 and "media root" in error_body(one)["error"]
    many = client.post(
        "/api/pro/batch",
        json={
            "operations": [
                {"type": "trim", "video_path": "clip.mp4"},
                {"type": "trim", "video_path": video_path},
            ]
        },
    )
    assert many.status_code == 400
    assert error_body(many)["details"][0]["index"] == 1


def test_unknown_operation_type(client, media_root):
    one = client.post("/api/pro/explode", json={"video_path": "clip.mp4"})
    assert one.status_code == 404
    assert "trim" in error_body(one)["details"]["known"]
    many = client.post(
        "/api/pro/batch", json={"operations": [{"type": "explode", "video_path": "clip.mp4"}]}
    )
    assert many.status_code == 422 and "unknown operation type" in error_body(many)["error"]


@pytest.mark.parametrize(
    ("op", "config", "field"),
    [
        ("speed", {"factor": 99}, "factor"),
        ("trim", {"start_s": 2, "end_s": 1}, "end_s"),
        ("color_grade", {"preset": "nope"}, "preset"),
        ("resize", {"bogus": 1}, "bogus"),
        ("timeline", {"clips": [{"in": 2, "out": 1}]}, "out"),
        ("timeline", {"clips": [{}, {"transition": "spin"}]}, "spin"),
    ],
)
def test_bad_config_is_422(client, media_root, op, config, field):
    one = client.post(f"/api/pro/{op}", json={"video_path": "clip.mp4", "config": config})
    assert one.status_code == 422 and field in error_body(one)["error"]
    many = client.post(
        "/api/pro/batch",
        json={"operations": [{"type": op, "video_path": "clip.mp4", "config": config}]},
    )
    assert many.status_code == 422 and many.json()["details"][0]["index"] == 0


def test_bad_request_bodies_are_422(client, media_root):
    assert client.post("/api/pro/batch", json={"operations": []}).status_code == 422
    assert client.post("/api/pro/batch", json={}).status_code == 422
    assert client.post("/api/pro/trim", json={"config": {}}).status_code == 422


@pytest.mark.parametrize(
    ("video_path", "message"),
    [
        ("corrupt.mp4", "not a readable video"),
        ("empty.mp4", "empty"),
        ("notes.txt", "not a readable video"),
        ("missing.mp4", "not found"),
    ],
)
def test_unreadable_inputs_fail_per_operation(client, media_root, video_path, message):
    resp = client.post("/api/pro/thumbnail", json={"video_path": video_path})
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "failed" and message in body["error"] and body["outputs"] == []


def test_large_batch_answers_202_and_progress(client, media_root):
    ops = [{"type": "hook_analysis", "video_path": "clip.mp4"} for _ in range(5)]
    ops.append({"type": "trim", "video_path": "empty.mp4"})
    resp = client.post("/api/pro/batch", json={"operations": ops})
    assert resp.status_code == 202, resp.text
    job = resp.json()
    assert job["total"] == 6 and job["status_url"].endswith(job["job_id"])
    deadline = time.monotonic() + 60
    while True:
        state = client.get(job["status_url"]).json()
        assert 0 <= state["completed"] <= 6 and 0 <= state["progress"] <= 1
        if state["status"] not in ("queued", "running") or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert state["status"] == "partial" and state["completed"] == 6
    assert state["successful"] == 5 and state["progress"] == 1.0
    assert state["results"][5]["status"] == "failed"
    assert client.get("/api/pro/jobs/does-not-exist").status_code == 404


def test_list_operations(client):
    body = client.get("/api/pro/operations").json()
    assert len(body["operations"]) == 17 and set(body["gpu_capable"]) <= set(body["operations"])


def test_timeline(client, media_root):
    config = {
        "clips": [{"out": 0.75}, {"path": "cuts.mp4", "transition": "crossfade"}],
        "output": {"preset": "1:1", "height": 64},
    }
    resp = client.post("/api/pro/timeline", json={"video_path": "clip.mp4", "config": config})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "success" and body["operation"] == "timeline"
    info = probe(body["output_path"])
    assert info.frame_count == body["data"]["frames"] == 15 + 20 - 10  # 20 fps, 0.5 s overlap
    assert (info.width, info.height, info.has_audio) == (64, 64, True)
    outside = {"clips": [{}, {"path": "../secret.mp4"}]}
    bad = client.post("/api/pro/timeline", json={"video_path": "clip.mp4", "config": outside})
    assert bad.status_code == 400 and "clips.1.path" in error_body(bad)["details"][0]["error"]


def test_operations_use_the_callers_assets_only(client, tenant_client, media_root):
    from tests.support.media_files import png_bytes

    files = {"file": ("logo.png", png_bytes((30, 16), (255, 255, 255, 255)), "image/png")}
    up = client.post("/api/pro/assets", files=files, data={"kind": "logo"})
    assert up.status_code in (200, 201), up.text
    layer = {"type": "image", "image": up.json()["ref"], "keyframes": [{"t": 0, "x": 0, "y": 0}]}
    body = {"video_path": "clip.mp4", "config": {"layers": [layer]}}
    mine = client.post("/api/pro/motion_graphics", json=body)
    assert mine.status_code == 200 and mine.json()["status"] == "success", mine.text
    other = tenant_client().post("/api/pro/motion-graphics", json=body)
    assert other.status_code == 200 and other.json()["status"] == "failed"
    assert "not found" in other.json()["error"]
    asset_file = f"assets/{'default'}/{up.json()['asset_id']}.png"
    peek = tenant_client().post("/api/pro/trim", json={"video_path": asset_file})
    assert peek.status_code == 400 and "another tenant" in peek.text
