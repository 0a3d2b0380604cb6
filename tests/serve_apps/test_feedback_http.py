"""Feedback → trigger → job consumer → winner memory, through HTTP on a running Serve app."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from core.db.engine import Database
from core.db.models import PendingJob, PerformanceMetric
from core.settings import Settings


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def register(client: httpx.Client, ad_id: str, hours: float, hook: str = "50% off today") -> None:
    launched = datetime.now(UTC) - timedelta(hours=hours)
    r = client.post(
        "/api/ads",
        json={"ad_id": ad_id, "launched_at": launched.isoformat(), "creative": {"hook_text": hook}},
    )
    assert r.status_code == 200, r.text


def stats(client: httpx.Client) -> dict:
    r = client.get("/api/ml/rag/memory-stats")
    assert r.status_code == 200, r.text
    return r.json()


def wait_indexed(client: httpx.Client, ad_id: str, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.post("/api/ml/rag/search", json={"features": {"hook_text": "x"}, "k": 100})
        hits = {h["ad_id"]: h for h in r.json()["results"]}
        if ad_id in hits:
            return hits[ad_id]
        time.sleep(0.1)
    raise AssertionError(f"{ad_id} not indexed within {timeout}s")


def wait_jobs_finished(client: httpx.Client, job_ids: set[int], timeout: float = 15) -> list[dict]:
    """Poll GET /api/ml/jobs/{id} until every job is done or failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = [client.get(f"/api/ml/jobs/{j}").json() for j in sorted(job_ids)]
        if all(j["status"] in ("done", "failed") for j in jobs):
            return jobs
        time.sleep(0.1)
    raise AssertionError(f"jobs {sorted(job_ids)} not finished within {timeout}s")


def queued_jobs(settings: Settings, ad_id: str) -> int:
    """Jobs ever queued for this ad (the trigger queues in the feedback's own transaction)."""
    db = Database(settings.db_url)
    try:
        with db.session() as s:
            key = f"{settings.tenant_id}:{ad_id}"
            stmt = select(func.count()).where(PendingJob.dedupe_key == key)
            return s.scalar(stmt.select_from(PendingJob))
    finally:
        db.dispose()


def test_winner_by_ctr_indexed_within_seconds(client: httpx.Client) -> None:
    ad = uid("ctr")
    register(client, ad, 30)
    before = stats(client)
    r = client.post("/api/ml/feedback", json={"ad_id": ad, "impressions": 2000, "clicks": 100})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["winner"] is True and body["reason"] == "ctr" and body["job_id"] is not None
    assert body["ctr"] == pytest.approx(0.05) and body["hours_live"] == pytest.approx(30, abs=0.1)
    hit = wait_indexed(client, ad)
    assert hit["reason"] == "ctr" and hit["impressions"] == 2000
    after = stats(client)
    assert after["winner_count"] == before["winner_count"] + 1
    assert after["by_reason"].get("ctr", 0) == before["by_reason"].get("ctr", 0) + 1


def test_winner_by_roas_indexed(client: httpx.Client) -> None:
    ad = uid("roas")
    register(client, ad, 72)
    r = client.post(
        "/api/ml/feedback",
        json={"ad_id": ad, "impressions": 1500, "clicks": 15, "spend": 100, "revenue": 420},
    )
    assert r.json()["winner"] is True and r.json()["reason"] == "roas"
    assert r.json()["roas"] == pytest.approx(4.2)
    assert wait_indexed(client, ad)["reason"] == "roas"


@pytest.mark.parametrize(
    ("hours", "payload"),
    [
        (23.9, {"impressions": 5000, "clicks": 500}),
        (30, {"impressions": 999, "clicks": 500}),
        (30, {"impressions": 1000, "clicks": 30}),
    ],
    ids=["23.9h-live", "999-impressions", "ctr-exactly-0.03"],
)
def test_boundaries_not_winners(
    client: httpx.Client, app_settings: Settings, hours: float, payload: dict
) -> None:
    ad = uid("edge")
    register(client, ad, hours)
    r = client.post("/api/ml/feedback", json={"ad_id": ad, **payload})
    assert r.status_code == 200
    assert r.json()["winner"] is False and r.json()["job_id"] is None
    # Nothing can index it later: the trigger queues in the acknowledged transaction or never.
    assert queued_jobs(app_settings, ad) == 0
    hits = client.post("/api/ml/rag/search", json={"features": {"hook_text": "x"}, "k": 100})
    assert ad not in {h["ad_id"] for h in hits.json()["results"]}


def test_same_ad_posted_twice_indexed_once(client: httpx.Client) -> None:
    ad = uid("twice")
    register(client, ad, 30)
    before = stats(client)["winner_count"]
    job_ids = set()
    for clicks in (100, 150):
        r = client.post(
            "/api/ml/feedback", json={"ad_id": ad, "impressions": 2000, "clicks": clicks}
        )
        assert r.json()["winner"] is True
        job_ids.add(r.json()["job_id"])
    jobs = wait_jobs_finished(client, job_ids)
    assert [j["status"] for j in jobs] == ["done"] * len(jobs)
    assert stats(client)["winner_count"] == before + 1
    assert wait_indexed(client, ad)["impressions"] == 2000


def _rows(settings: Settings) -> tuple[int, int]:
    db = Database(settings.db_url)
    try:
        with db.session() as s:
            return (
                s.scalar(select(func.count()).select_from(PerformanceMetric)),
                s.scalar(select(func.count()).select_from(PendingJob)),
            )
    finally:
        db.dispose()


BAD_PAYLOADS = {
    "missing ad_id": ({"impressions": 10, "clicks": 1}, "ad_id"),
    "negative impressions": ({"ad_id": "x", "impressions": -5, "clicks": 0}, "impressions"),
    "clicks over impressions": ({"ad_id": "x", "impressions": 5, "clicks": 6}, "clicks"),
    "ctr over 1": ({"ad_id": "x", "impressions": 5, "clicks": 1, "actual_ctr": 1.5}, "actual_ctr"),
    "string count": ({"ad_id": "x", "impressions": "many", "clicks": 1}, "impressions"),
    "future observed_at": (
        {"ad_id": "x", "impressions": 5, "clicks": 1, "observed_at": "2999-01-01T00:00:00Z"},
        "observed_at",
    ),
}


@pytest.mark.parametrize("case", list(BAD_PAYLOADS), ids=list(BAD_PAYLOADS))
def test_bad_payloads_422_and_nothing_written(
    client: httpx.Client, app_settings: Settings, case: str
) -> None:
    payload, field = BAD_PAYLOADS[case]
    before = _rows(app_settings)
    r = client.post("/api/ml/feedback", json=payload)
    assert r.status_code == 422, r.text
    body = r.json()
    assert field in body["error"] and isinstance(body["details"], list)
    assert _rows(app_settings) == before


def test_nan_rejected_422(client: httpx.Client, app_settings: Settings) -> None:
    before = _rows(app_settings)
    raw = '{"ad_id": "x", "impressions": 10, "clicks": 1, "spend": NaN}'
    r = client.post("/api/ml/feedback", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert "spend" in r.json()["error"]
    assert _rows(app_settings) == before
    # The answer itself is strict JSON: the rejected NaN is echoed as a string, not a literal.
    body = json.loads(r.text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    (detail,) = body["details"]
    assert detail["loc"] == ["body", "spend"] and detail["input"] == "nan"


def test_batch_is_all_or_nothing(client: httpx.Client, app_settings: Settings) -> None:
    before = _rows(app_settings)
    items = [{"ad_id": uid("b"), "impressions": 10, "clicks": 1} for _ in range(3)]
    items.append({"ad_id": "bad", "impressions": 1, "clicks": 2})
    r = client.post("/api/ml/feedback/batch", json={"items": items})
    assert r.status_code == 422 and "items.3" in r.json()["error"]
    assert _rows(app_settings) == before
    r = client.post("/api/ml/feedback/batch", json={"items": items[:3]})
    assert r.status_code == 200 and r.json()["accepted"] == 3
    assert _rows(app_settings)[0] == before[0] + 3


def test_search_by_ad_and_unknown_ad(client: httpx.Client) -> None:
    ad = uid("srch")
    register(client, ad, 30, hook="Meal prep in 10 minutes")
    client.post("/api/ml/feedback", json={"ad_id": ad, "impressions": 2000, "clicks": 200})
    wait_indexed(client, ad)
    other = uid("q")
    register(client, other, 1, hook="Meal prep in 10 minutes flat")
    r = client.post("/api/ml/rag/search", json={"ad_id": other, "k": 3})
    assert r.status_code == 200 and r.json()["results"][0]["ad_id"] == ad
    r = client.post("/api/ml/rag/search", json={"ad_id": "no-such-ad", "k": 3})
    assert r.status_code == 404 and r.json()["error"] == "unknown ad"
    r = client.post("/api/ml/rag/search", json={"k": 3})
    assert r.status_code == 422


def test_index_winner_by_hand_is_idempotent(client: httpx.Client) -> None:
    ad = uid("manual")
    register(client, ad, 2)
    before = stats(client)["winner_count"]
    for _ in range(2):
        r = client.post("/api/ml/rag/index-winner", json={"ad_id": ad, "ctr": 0.05, "roas": 1.0})
        assert r.status_code == 200, r.text
    assert r.json()["times_indexed"] == 2
    assert stats(client)["winner_count"] == before + 1
    r = client.post("/api/ml/rag/index-winner", json={"ad_id": "nope-404"})
    assert r.status_code == 404


def test_health_and_openapi(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] is True
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/ml/feedback", "/api/ml/rag/index-winner", "/api/ml/rag/memory-stats"):
        assert p in paths


def test_malformed_json_is_a_clear_422(client: httpx.Client) -> None:
    r = client.post(
        "/api/ml/feedback", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["error"].startswith("invalid JSON body")
