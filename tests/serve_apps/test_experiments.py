"""Experiments through HTTP: create, read, select, allocate, fed by /api/ml/feedback."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from core.db.engine import Database
from core.db.keys import create_key
from core.db.migrate import ensure_tenant
from core.domain.sampler import SamplerConfig
from core.settings import Settings

LIMITS = SamplerConfig.load().limits


def new_ads(client: httpx.Client, n: int) -> list[str]:
    ads = [f"exp-{uuid.uuid4().hex[:8]}" for _ in range(n)]
    launched = (datetime.now(UTC) - timedelta(hours=48)).isoformat()
    for ad in ads:
        r = client.post("/api/ads", json={"ad_id": ad, "launched_at": launched})
        assert r.status_code == 200, r.text
    return ads


def feedback(client: httpx.Client, ad: str, impressions: int, clicks: int) -> None:
    r = client.post(
        "/api/ml/feedback", json={"ad_id": ad, "impressions": impressions, "clicks": clicks}
    )
    assert r.status_code == 200, r.text


def create(client: httpx.Client, ads: list[str], **kw: object) -> dict:
    r = client.post("/api/ml/experiments", json={"ad_ids": ads, **kw})
    assert r.status_code == 201, r.text
    return r.json()


def wait_for(client: httpx.Client, exp_id: str, ad: str, trials: int) -> dict:
    """Feedback reaches the sampler fire-and-forget: poll until the arm shows it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body = client.get(f"/api/ml/experiments/{exp_id}").json()
        arm = next(a for a in body["arms"] if a["ad_id"] == ad)
        if arm["trials"] == trials:
            return body
        time.sleep(0.05)
    raise AssertionError(f"{ad} never showed {trials} trials")


def test_create_and_read(client: httpx.Client) -> None:
    ads = new_ads(client, 3)
    feedback(client, ads[0], 1000, 40)  # history before the experiment counts
    body = create(client, ads, name="hooks", decay_half_life_h=72)
    assert body["name"] == "hooks" and body["metric"] == "ctr" and body["status"] == "active"
    assert body["decay_half_life_h"] == 72 and body["allocation"] is None
    arms = {a["ad_id"]: a for a in body["arms"]}
    assert set(arms) == set(ads)
    assert arms[ads[0]]["trials"] == 1000 and arms[ads[0]]["successes"] == 40
    assert arms[ads[0]]["alpha"] == pytest.approx(41, rel=1e-3)  # decayed by seconds only
    assert (arms[ads[1]]["alpha"], arms[ads[1]]["beta"], arms[ads[1]]["mean"]) == (1, 1, 0.5)
    assert [e["kind"] for e in body["history"]] == ["created"]
    got = client.get(f"/api/ml/experiments/{body['experiment_id']}")
    assert got.status_code == 200
    again = {a["ad_id"]: a for a in got.json()["arms"]}
    assert again[ads[0]]["successes"] == 40
    assert again[ads[0]]["alpha"] <= arms[ads[0]]["alpha"]  # decays with the clock


def test_feedback_updates_posteriors(client: httpx.Client) -> None:
    ads = new_ads(client, 2)
    exp = create(client, ads, metric="ctr", prior_alpha=2, prior_beta=3)["experiment_id"]
    feedback(client, ads[0], 500, 25)
    feedback(client, ads[0], 1500, 60)  # cumulative
    body = wait_for(client, exp, ads[0], 1500)
    arm = next(a for a in body["arms"] if a["ad_id"] == ads[0])
    assert (arm["alpha"], arm["beta"]) == (2 + 60, 3 + 1440)
    assert arm["mean"] == round(62 / 1505, 4)  # rates to 4 decimals (SPEC §2)
    assert [e["kind"] for e in body["history"]][:2] == ["update", "update"]


def test_select_and_allocate(client: httpx.Client) -> None:
    ads = new_ads(client, 3)
    for ad, clicks in zip(ads, (20, 120, 30), strict=True):
        feedback(client, ad, 3000, clicks)
    exp = create(client, ads)["experiment_id"]

    r = client.post(f"/api/ml/experiments/{exp}/select")
    assert r.status_code == 200, r.text
    assert r.json()["ad_id"] in ads and len(r.json()["selections"]) == 1
    r = client.post(f"/api/ml/experiments/{exp}/select", json={"n": 1000})
    picks = r.json()["selections"]
    assert len(picks) == 1000 and picks.count(ads[1]) > 950

    r = client.post(
        f"/api/ml/experiments/{exp}/allocate",
        json={"total_budget": 1000, "min_share": 0.1, "max_share": 0.6},
    )
    assert r.status_code == 200, r.text
    alloc = r.json()
    amounts = {a["ad_id"]: a["amount"] for a in alloc["arms"]}
    assert round(sum(amounts.values()), 2) == 1000  # whole cents that add up
    assert amounts[ads[1]] == pytest.approx(600)
    assert all(100 - 1e-6 <= v <= 600 + 1e-6 for v in amounts.values())
    assert sum(a["prob_best"] for a in alloc["arms"]) == pytest.approx(1, abs=1e-3)
    assert all(round(a["prob_best"], 4) == a["prob_best"] for a in alloc["arms"])
    assert alloc["n_draws"] == LIMITS.allocation_draws

    body = client.get(f"/api/ml/experiments/{exp}").json()
    assert body["allocation"]["arms"] == alloc["arms"]
    assert body["history"][0]["kind"] == "allocation"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"ad_ids": ["a"]}, "ad_ids"),
        ({"ad_ids": ["a", "a"]}, "ad_ids"),
        ({"ad_ids": ["a", ""]}, "ad_ids"),
        ({"ad_ids": "a,b"}, "ad_ids"),
        ({}, "ad_ids"),
        ({"ad_ids": ["a", "b"], "metric": "cpc"}, "metric"),
        ({"ad_ids": ["a", "b"], "prior_alpha": 0}, "prior_alpha"),
        ({"ad_ids": ["a", "b"], "prior_beta": -1}, "prior_beta"),
        ({"ad_ids": ["a", "b"], "decay_half_life_h": 0}, "decay_half_life_h"),
        ({"ad_ids": ["a", "b"], "arms": 2}, "arms"),
    ],
)
def test_create_validation(client: httpx.Client, payload: dict, field: str) -> None:
    r = client.post("/api/ml/experiments", json=payload)
    assert r.status_code == 422, r.text
    assert any(field in d["loc"] for d in r.json()["details"])


def test_create_with_unknown_ads_is_404(client: httpx.Client) -> None:
    ads = new_ads(client, 1)
    r = client.post("/api/ml/experiments", json={"ad_ids": [ads[0], "never-seen-ad"]})
    assert r.status_code == 404
    assert r.json() == {"error": "unknown ad", "details": {"ad_ids": ["never-seen-ad"]}}


@pytest.mark.parametrize(
    ("path", "payload", "needle"),
    [
        ("select", {"n": 0}, "n"),
        ("select", {"n": LIMITS.max_select_batch + 1}, "n must be"),
        ("select", {"n": "many"}, "n"),
        ("allocate", {"total_budget": -1}, "total_budget"),
        ("allocate", {}, "total_budget"),
        ("allocate", {"total_budget": 10, "min_share": 0.5, "max_share": 0.2}, "min_share"),
        ("allocate", {"total_budget": 10, "min_share": 1.5}, "min_share"),
        ("allocate", {"total_budget": 10, "min_share": 0.6}, "cannot both be met"),  # 2 x 0.6 > 1
        ("allocate", {"total_budget": 10, "max_share": 0.4}, "cannot both be met"),  # 2 x 0.4 < 1
    ],
)
def test_decision_validation(client: httpx.Client, path: str, payload: dict, needle: str) -> None:
    exp = create(client, new_ads(client, 2))["experiment_id"]
    r = client.post(f"/api/ml/experiments/{exp}/{path}", json=payload)
    assert r.status_code == 422, r.text
    assert needle in r.text
    assert "Traceback" not in r.text and "ray::" not in r.text  # no internal text


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", ""), ("POST", "/select"), ("POST", "/allocate")],
)
def test_unknown_experiment_is_404(client: httpx.Client, method: str, path: str) -> None:
    body = {"total_budget": 10} if path == "/allocate" else None
    r = client.request(method, f"/api/ml/experiments/exp_missing{path}", json=body)
    assert r.status_code == 404 and r.json()["error"] == "experiment not found"


# -- tenant isolation ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def other_tenant(gateway_url: str, app_settings: Settings) -> Iterator[httpx.Client]:
    """A client of a second tenant on the same running app."""
    db = Database(app_settings.db_url)
    ensure_tenant(db, "other")
    key = create_key(db, tenant_id="other", name="tests-other", rate_limit_per_min=100000)
    db.dispose()
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=gateway_url, headers=headers, timeout=30) as c:
        yield c


def test_other_tenants_experiment_is_404(client: httpx.Client, other_tenant: httpx.Client) -> None:
    ads = new_ads(client, 2)
    exp = create(client, ads)["experiment_id"]
    assert other_tenant.get(f"/api/ml/experiments/{exp}").status_code == 404
    for path, body in (("select", {"n": 3}), ("allocate", {"total_budget": 5})):
        r = other_tenant.post(f"/api/ml/experiments/{exp}/{path}", json=body)
        assert r.status_code == 404, r.text
        assert ads[0] not in r.text
    # nor can it build an experiment over this tenant's ads
    (mine,) = new_ads(other_tenant, 1)
    r = other_tenant.post("/api/ml/experiments", json={"ad_ids": [mine, ads[0]]})
    assert r.status_code == 404 and r.json()["details"] == {"ad_ids": [ads[0]]}
    assert client.get(f"/api/ml/experiments/{exp}").status_code == 200
