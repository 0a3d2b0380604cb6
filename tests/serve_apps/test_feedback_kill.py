"""A gateway replica killed during a burst of per-row feedback: every 200 has its row.

Group commit answers a request only after the transaction that holds its row committed,
so whatever the kill interrupts was never acknowledged.
"""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest
import ray
from ray import serve
from sqlalchemy import select

from core.db.engine import Database
from core.db.models import PerformanceMetric
from core.settings import Settings

pytestmark = pytest.mark.heavy


def gateway_replicas() -> list[dict]:
    return [
        a
        for a in ray.util.list_named_actors(all_namespaces=True)
        if "Gateway" in a["name"] and a["name"].startswith("SERVE_REPLICA")
    ]


def wait_gateway_healthy(client: httpx.Client, replicas: int, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app = serve.status().applications.get("adcluster")
        gateway = app.deployments["Gateway"] if app else None
        running = gateway.replica_states.get("RUNNING", 0) if gateway else 0
        if running >= replicas and client.get("/healthz").status_code == 200:
            return
        time.sleep(0.25)
    raise AssertionError("the gateway did not come back")


def test_replica_killed_mid_burst_loses_no_acknowledged_row(
    client: httpx.Client, app_settings: Settings
) -> None:
    replicas = gateway_replicas()
    assert len(replicas) >= 2, replicas
    tag = uuid.uuid4().hex[:8]
    acked: dict[int, str] = {}
    failures: list[str] = []
    stop = threading.Event()

    def burst(worker: int) -> None:
        with httpx.Client(base_url=str(client.base_url), headers=client.headers, timeout=30) as c:
            i = 0
            while not stop.is_set():
                i += 1
                ad = f"kill-{tag}-{worker}-{i}"
                try:
                    r = c.post(
                        "/api/ml/feedback", json={"ad_id": ad, "impressions": 100, "clicks": 2}
                    )
                except httpx.HTTPError as exc:
                    failures.append(type(exc).__name__)
                    continue
                if r.status_code == 200:
                    acked[r.json()["metrics_id"]] = ad
                else:
                    failures.append(str(r.status_code))

    threads = [threading.Thread(target=burst, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 100 and time.monotonic() < deadline:  # the burst is under way
        time.sleep(0.01)
    victim = replicas[0]
    ray.kill(ray.get_actor(victim["name"], namespace=victim["namespace"]), no_restart=True)
    killed_at = len(acked)
    while len(acked) < killed_at + 200 and time.monotonic() < deadline:  # and goes on after
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join(30)
    wait_gateway_healthy(client, len(replicas))

    assert len(acked) >= killed_at + 200, failures[:5]
    db = Database(app_settings.db_url)
    try:
        with db.session() as s:
            stmt = select(PerformanceMetric.id, PerformanceMetric.ad_id).where(
                PerformanceMetric.ad_id.like(f"kill-{tag}-%")
            )
            stored = dict(s.execute(stmt).all())
    finally:
        db.dispose()
    missing = {mid: ad for mid, ad in acked.items() if stored.get(mid) != ad}
    assert not missing, f"{len(missing)} acknowledged rows missing"
