"""GET /metrics on the running app is cluster-wide: what the two gateway replicas and the
actors recorded into Ray's metrics, read from the node's Ray export and combined.

Figures arrive within seconds (replica flush 1 s, Ray's report interval 1 s in the test
cluster, the route's cache 1 s); each test polls for its figure instead of sleeping.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from actors import catalogue
from core.db import changes, jobs
from core.db.changes import ChangeRequest
from core.db.engine import Database
from core.db.models import PendingAdChange, PendingJob, utcnow
from core.settings import Settings
from serve_apps.gateway.metrics import export_urls

Client = Callable[..., httpx.Client]
WAIT_S = 30.0


def scrape(gateway_url: str) -> dict[str, dict[tuple, float]]:
    """GET /metrics as {sample name: {sorted labels: value}}."""
    r = httpx.get(f"{gateway_url}/metrics", timeout=10)
    assert r.status_code == 200, r.text
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def value(gateway_url: str, name: str, **labels: str) -> float:
    return scrape(gateway_url).get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.25)


def settled(gateway_url: str, *names: str, quiet_s: float = 3.0) -> dict[str, dict[tuple, float]]:
    """A scrape whose ``names`` series no longer change for ``quiet_s`` (longer than Ray's
    report interval plus the route's cache): what earlier tests recorded has all arrived."""

    def part(scraped: dict[str, dict[tuple, float]]) -> dict[str, dict[tuple, float]]:
        return {n: scraped.get(n, {}) for n in names}

    last = scrape(gateway_url)
    deadline = time.monotonic() + WAIT_S
    while True:
        time.sleep(quiet_s)
        now = scrape(gateway_url)
        if part(now) == part(last):
            return now
        assert time.monotonic() < deadline, "metrics never settled"
        last = now


def per_worker(name: str, **labels: str) -> dict[str, float]:
    """One series in Ray's own export, by the process (WorkerId) that recorded it."""
    out: dict[str, float] = {}
    for url in export_urls():
        for family in text_string_to_metric_families(httpx.get(url, timeout=10).text):
            for s in family.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    out[s.labels["WorkerId"]] = out.get(s.labels["WorkerId"], 0.0) + s.value
    return out


def test_two_replicas_requests_are_summed_in_one_series(gateway_url: str) -> None:
    """DELETE /healthz (405) is this test's own series: nothing else sends it."""
    labels = {"method": "DELETE", "route": "/healthz", "status": "405"}
    raw = "ray_adcluster_http_requests_total"

    def burst(n: int) -> None:
        def one(_: int) -> int:
            with httpx.Client(base_url=gateway_url, timeout=10) as c:
                return sum(c.delete("/healthz").status_code == 405 for _ in range(n // 16))

        with ThreadPoolExecutor(16) as pool:
            assert sum(pool.map(one, range(16))) == n

    sent = 0
    for _ in range(5):  # HAProxy spreads concurrent connections; more bursts if it did not
        burst(160)
        sent += 160
        wait_for(lambda n=sent: sum(per_worker(raw, **labels).values()) == n, f"{sent} in Ray")
        if len(per_worker(raw, **labels)) >= 2:
            break
    workers = per_worker(raw, **labels)
    assert len(workers) >= 2, workers  # two replicas recorded it, each its own series
    assert all(v > 0 for v in workers.values())
    wait_for(
        lambda: value(gateway_url, "adcluster_http_requests_total", **labels) == sent,
        f"one series of {sent}",
    )
    got = scrape(gateway_url)
    series = [k for k in got["adcluster_http_requests_total"] if dict(k) == labels]
    assert len(series) == 1  # one series, no WorkerId
    hist = {"method": "DELETE", "route": "/healthz"}
    assert value(gateway_url, "adcluster_http_request_duration_seconds_count", **hist) == sent
    # a replica replaced by an earlier test leaves its gauge until Ray's TTL ages it out
    wait_for(lambda: value(gateway_url, "adcluster_gateway_replicas") == 2, "2 replicas", 60)


def test_a_learning_cycle_duration_is_recorded(gateway_url: str, tenant_client: Client) -> None:
    name = "adcluster_learning_cycle_duration_seconds"
    labels = {"trigger": "api", "status": "completed"}
    before = settled(  # a cycle of an earlier test may still be on its way
        gateway_url,
        f"{name}_count",
        f"{name}_sum",
        "adcluster_learning_loop_duration_seconds_count",
    )
    key = tuple(sorted(labels.items()))
    count0 = before.get(f"{name}_count", {}).get(key, 0.0)
    sum0 = before.get(f"{name}_sum", {}).get(key, 0.0)
    loop_key = (("loop", "winner_refresh"), ("status", "completed"))
    loops0 = before.get("adcluster_learning_loop_duration_seconds_count", {}).get(loop_key, 0.0)

    r = tenant_client().post("/api/ml/self-learning-cycle", json={"wait_s": 60})
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    duration = r.json()["duration_seconds"]

    def recorded() -> bool:  # the series may reach the scrape one report apart
        now = scrape(gateway_url)
        count = now.get(f"{name}_count", {}).get(key, 0.0)
        total = now.get(f"{name}_sum", {}).get(key, 0.0)
        loops = now.get("adcluster_learning_loop_duration_seconds_count", {}).get(loop_key, 0.0)
        return (
            count == count0 + 1 and abs(total - sum0 - duration) < 1e-6 and loops == loops0 + 1
        )

    wait_for(recorded, "the cycle, its duration and its loops")


def test_an_executor_outcome_is_recorded(gateway_url: str, app_settings: Settings) -> None:
    """A change due now, the executor woken through its handle: its outcome is counted."""
    db = Database(app_settings.db_url)
    try:
        before = scrape(gateway_url).get("adcluster_executor_outcomes_total", {})
        with db.session() as s:
            change, _ = changes.enqueue(
                s,
                ChangeRequest(
                    tenant_id=f"t-exec-{uuid.uuid4().hex[:6]}",
                    idempotency_key="metrics",
                    kind="budget",
                    account_id="act_1",
                    campaign_id="camp_metrics",
                    object_id="as_metrics",
                    ad_set_id="as_metrics",
                    new_value=1500,
                    requested_by="test",
                    earliest_execute_at=utcnow(),
                ),
            )
            change_id = change.id
        catalogue.lookup("safe_executor", app_settings).wake.remote()

        def handled() -> PendingAdChange | None:
            with db.session() as s:
                row = s.get(PendingAdChange, change_id)
                return row if row.status not in ("pending", "claimed") else None

        wait_for(lambda: handled() is not None, "the change handled")
        row = handled()
        assert row is not None
        outcome = {"applied": "dry_run" if row.dry_run else "applied"}.get(row.status, row.status)
        key = (("outcome", outcome),)
        wait_for(
            lambda: (
                value(gateway_url, "adcluster_executor_outcomes_total", outcome=outcome)
                >= before.get(key, 0.0) + 1
            ),
            f"outcome {outcome}",
        )
    finally:
        db.dispose()


def test_queue_depth_is_reported(gateway_url: str, app_settings: Settings) -> None:
    """Jobs due in an hour stay pending: the consumer's gauge follows the table."""
    db = Database(app_settings.db_url)
    ids: list[int] = []
    try:
        with db.session() as s:
            for i in range(3):
                ids.append(jobs.enqueue(s, "metrics_test", {"i": i}, tenant_id="t-metrics"))
            s.execute(
                update(PendingJob)
                .where(PendingJob.id.in_(ids))
                .values(run_after=utcnow() + timedelta(hours=1))
            )

        def matches() -> bool:
            with db.session() as s:
                pending = jobs.open_counts(s)["pending"]
            gauge = value(
                gateway_url, "adcluster_queue_depth", queue="pending_jobs", status="pending"
            )
            return pending >= 3 and gauge == pending

        wait_for(matches, "the queue's depth")
        got = scrape(gateway_url)["adcluster_queue_depth"]
        assert (("queue", "pending_ad_changes"), ("status", "pending")) in got  # the executor's
    finally:
        with db.session() as s:
            s.execute(update(PendingJob).where(PendingJob.id.in_(ids)).values(status="done"))
        db.dispose()
