"""The self-learning cycle over HTTP: run one (the orchestrator actor), read it back, one
running cycle per tenant (409 with its id), tenant isolation, what the loops learned."""

from __future__ import annotations

import pytest

from core.db import learning as repo
from core.db.engine import Database
from core.learning.cycle import STEP_NAMES
from core.settings import Settings


def test_run_a_cycle_and_read_it_back(tenant_client) -> None:
    client = tenant_client()
    r = client.post("/api/ml/self-learning-cycle", json={"wait_s": 60})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "completed" and body["trigger"] == "api"
    assert [s["name"] for s in body["steps"]] == list(STEP_NAMES)
    assert {s["status"] for s in body["steps"]} <= {"completed", "skipped"}
    assert body["cycle_completed_at"] and body["duration_seconds"] >= 0
    cycle_id = body["cycle_id"]

    assert client.get(f"/api/ml/self-learning-cycle/{cycle_id}").json() == body
    assert client.get("/api/ml/self-learning-cycle/latest").json()["cycle_id"] == cycle_id
    items = client.get("/api/ml/self-learning-cycle", params={"limit": 5}).json()["items"]
    assert [c["cycle_id"] for c in items] == [cycle_id]
    # another tenant sees nothing of it
    other = tenant_client()
    r = other.get(f"/api/ml/self-learning-cycle/{cycle_id}")
    assert r.status_code == 404 and "error" in r.json()
    assert other.get("/api/ml/self-learning-cycle/latest").status_code == 404


def test_a_second_cycle_while_one_runs_is_409_with_its_id(
    tenant_client, app_settings: Settings
) -> None:
    tenant = "t-busy-learning"
    client = tenant_client(tenant)
    db = Database(app_settings.db_url)
    try:
        with db.session() as s:
            running = repo.start_cycle(s, tenant_id=tenant, trigger="api", owner="elsewhere")
            running_id = running.cycle_id
        r = client.post("/api/ml/self-learning-cycle")
        assert r.status_code == 409
        assert r.json()["details"]["cycle_id"] == running_id
        with db.session() as s:
            repo.finish_cycle(
                s,
                running_id,
                owner="elsewhere",
                status="completed",
                steps=[],
                error=None,
                now=running.started_at,
            )
        assert client.post("/api/ml/self-learning-cycle").status_code == 200
    finally:
        db.dispose()


def test_insights_and_dna_before_any_cycle_are_empty(tenant_client) -> None:
    client = tenant_client()
    for path in ("/api/ml/insights", "/api/ml/creative-dna"):
        r = client.get(path)
        assert r.status_code == 200 and r.json() == {
            "cycle_id": None,
            "created_at": None,
            "result": {},
        }


@pytest.mark.parametrize("body", [{"wait_s": -1}, {"wait_s": "soon"}, {"colour": 1}])
def test_bad_bodies_are_422(client, body: dict) -> None:
    r = client.post("/api/ml/self-learning-cycle", json=body)
    assert r.status_code == 422 and "error" in r.json()


def test_unknown_cycle_is_404(client) -> None:
    r = client.get("/api/ml/self-learning-cycle/no-such-cycle")
    assert r.status_code == 404
