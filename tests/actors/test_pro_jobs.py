"""Background jobs: state in the database, tenant-scoped, resumed by a (re)started runner."""

from __future__ import annotations

import time

import pytest
import ray

from actors import catalogue
from core.db.engine import Database
from core.db.pro_jobs import JobStore
from core.video.synth import square_clip
from serve_apps.video.batch import batch_status


@pytest.fixture()
def job_settings(make_settings):
    settings = make_settings("sqlite")
    media = settings.resolve(settings.media.media_root)
    media.mkdir(parents=True, exist_ok=True)
    square_clip(media / "a.mp4", duration_s=0.5)
    return settings


@pytest.fixture()
def store(job_settings):
    db = Database(job_settings.db_url)
    yield JobStore(db)
    db.dispose()


def test_progress_and_tenant_scope(store):
    job_id = store.create("t1", {"operations": [], "parallel": True}, total=2)
    assert store.get(job_id, "t2") is None
    store.record(job_id, 1, {"status": "failed", "operation": "trim"})
    job = store.get(job_id, "t1")
    assert (job["completed"], job["successful"], job["results"][0]) == (1, 0, None)
    store.record(job_id, 0, {"status": "success", "operation": "trim"})
    store.finish(job_id, batch_status)
    job = store.get(job_id, "t1")
    assert job["status"] == "partial" and job["successful"] == 1


@pytest.mark.ray
def test_restarted_runner_resumes_only_unfinished_operations(ray_session, job_settings, store):
    ops = [
        {"type": "trim", "video_path": "a.mp4", "config": {"end_s": 0.25}},
        {"type": "scene_detect", "video_path": "a.mp4", "config": {}},
    ]
    job_id = store.create("default", {"operations": ops, "parallel": True}, total=2)
    done = {
        "status": "success",
        "operation": "trim",
        "video_path": "a.mp4",
        "data": {"from_before_restart": True},
        "outputs": [],
    }
    store.record(job_id, 0, done)
    store.set_status(job_id, "running")  # as if the runner died mid-job
    runner = catalogue.get("pro_video_jobs", job_settings)
    try:
        ray.get(runner.ping.remote())
        deadline = time.monotonic() + 30
        while store.get(job_id)["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
        job = store.get(job_id)
        assert job["status"] == "completed" and job["completed"] == 2
        assert job["results"][0]["data"] == {"from_before_restart": True}
        assert job["results"][1]["data"]["scene_count"] == 1
    finally:
        ray.kill(runner, no_restart=True)
