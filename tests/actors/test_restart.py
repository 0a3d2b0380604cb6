"""Killing the WinnerMemory and the job consumer mid-stream loses no acknowledged winner."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import ray

from core.settings import Settings


@pytest.mark.parametrize("no_restart", [False, True], ids=["ray-restarts", "killed-for-good"])
def test_kill_actors_mid_stream_loses_no_winner(
    client: httpx.Client, app_settings: Settings, no_restart: bool
) -> None:
    ns = app_settings.ray.namespace
    tag = uuid.uuid4().hex[:6]
    before = client.get("/api/ml/rag/memory-stats").json()["winner_count"]
    launched = (datetime.now(UTC) - timedelta(hours=30)).isoformat()
    acked: list[str] = []
    errors: list[str] = []

    def stream() -> None:
        for i in range(40):
            ad = f"kill-{tag}-{i}"
            try:
                client.post("/api/ads", json={"ad_id": ad, "launched_at": launched})
                r = client.post(
                    "/api/ml/feedback", json={"ad_id": ad, "impressions": 3000, "clicks": 300}
                )
            except httpx.HTTPError as exc:
                errors.append(str(exc))
                continue
            if r.status_code == 200 and r.json()["winner"]:
                acked.append(ad)
            time.sleep(0.02)

    t = threading.Thread(target=stream)
    t.start()
    time.sleep(0.3)
    ray.kill(ray.get_actor("winner_memory", namespace=ns), no_restart=no_restart)
    time.sleep(0.3)
    ray.kill(ray.get_actor("job_consumer", namespace=ns), no_restart=no_restart)
    t.join(60)
    assert len(acked) >= 30, errors  # most of the stream was acknowledged
    if no_restart:  # nothing restarts them but the next use: the gateway recreates on demand
        client.get("/api/ml/rag/memory-stats")
        client.post(
            "/api/ml/feedback", json={"ad_id": acked[0], "impressions": 3000, "clicks": 300}
        )
    deadline = time.monotonic() + 30
    count = before
    while time.monotonic() < deadline:
        r = client.get("/api/ml/rag/memory-stats")
        if r.status_code == 200:
            count = r.json()["winner_count"]
            if count >= before + len(acked):
                break
        time.sleep(0.25)
    assert count == before + len(acked)
