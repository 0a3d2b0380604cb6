"""The dashboard over HTTP: a public page that loads nothing from elsewhere, and a state
endpoint that needs a key and shows its tenant's data only."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import httpx
import pytest

from core.settings import Settings
from tests.support import dashboard_world

Client = Callable[..., httpx.Client]


@pytest.fixture(scope="module")
def worlds(tenant_client: Client, app_settings: Settings) -> tuple[dashboard_world.World, ...]:
    """Two tenants, each with a full dashboard; the second reuses the first's ad ids."""
    label = f"dash{uuid.uuid4().hex[:4]}"
    out = []
    for name in ("first", "second"):
        tenant = f"t-{name}-{uuid.uuid4().hex[:6]}"
        client = tenant_client(tenant)
        out.append(dashboard_world.build(client, app_settings, tenant=tenant, label=label))
    return tuple(out)


def test_page_script_and_style_are_public_and_load_nothing_from_elsewhere(
    gateway_url: str,
) -> None:
    page = httpx.get(f"{gateway_url}/dashboard", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert refs == ["dashboard/app.css", "dashboard/app.js"]  # same origin, relative
    for path, kind in (
        ("/dashboard/app.js", "text/javascript"),
        ("/dashboard/app.css", "text/css"),
    ):
        asset = httpx.get(f"{gateway_url}{path}", timeout=10)
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
        assert "://" not in asset.text.replace("http://www.w3.org", "")  # no external URL
    assert "://" not in page.text
    assert "api/dashboard/state" in httpx.get(f"{gateway_url}/dashboard/app.js").text
    # the trailing slash leads to the page, not to a 401
    r = httpx.get(f"{gateway_url}/dashboard/", timeout=10, follow_redirects=True)
    assert r.status_code == 200 and r.url.path == "/dashboard"


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "missing API key"),
        ({"Authorization": "Bearer adc_0123abcd_not-a-real-secret"}, 401, "invalid API key"),
    ],
)
def test_state_needs_a_key(gateway_url: str, headers: dict, status: int, message: str) -> None:
    r = httpx.get(f"{gateway_url}/api/dashboard/state", headers=headers, timeout=10)
    assert r.status_code == status and r.json()["error"] == message


@pytest.mark.parametrize("limit", ["0", "51", "ten", "-1"])
def test_bad_limit_is_422(client: httpx.Client, limit: str) -> None:
    r = client.get("/api/dashboard/state", params={"limit": limit})
    assert r.status_code == 422, r.text
    assert r.json()["error"] and "limit" in str(r.json()["details"])


def test_state_shows_the_tenants_own_live_state(
    worlds: tuple[dashboard_world.World, ...], tenant_client: Client
) -> None:
    first, second = worlds
    client = tenant_client(first.tenant)  # a second key of the same tenant
    state = client.get("/api/dashboard/state").json()
    assert state["tenant_id"] == first.tenant and state["refresh_s"] > 0

    (exp,) = state["experiments"]
    assert exp["experiment_id"] == first.experiment_id and exp["name"] == first.experiment_name
    assert exp["allocation"]["total_budget"] == 500.0
    shares = {a["ad_id"]: a["share"] for a in exp["arms"]}
    assert set(shares) == set(first.ads) and abs(sum(shares.values()) - 1) < 1e-3
    assert exp["leader"] == max(shares, key=shares.__getitem__)

    statuses = {c["id"]: c["status"] for c in state["changes"]["recent"]}
    assert statuses == {first.pending_change: "pending", first.applied_change: "applied"}
    assert state["changes"]["counts"]["pending"] == 1
    assert state["changes"]["counts"]["applied"] == 1

    assert [c["cycle_id"] for c in state["cycles"]] == [first.cycle_id]
    (champion,) = state["models"]["champions"]
    assert champion["kind"] == "ctr" and champion["version"] == first.model_version
    assert state["models"]["decisions"][0]["challenger_version"] == first.model_version
    assert state["winners"]["total"] == 1
    assert state["winners"]["recent"][0]["ad_id"] == first.ads[1]
    assert set(state["queue"]["pending_jobs"]) == {"pending", "running", "failed"}

    # the second tenant has the same ids and names, but none of the first's rows
    other = tenant_client(second.tenant).get("/api/dashboard/state").json()
    assert other["tenant_id"] == second.tenant
    assert [e["experiment_id"] for e in other["experiments"]] == [second.experiment_id]
    assert {c["id"] for c in other["changes"]["recent"]} == {
        second.pending_change,
        second.applied_change,
    }
    assert [c["cycle_id"] for c in other["cycles"]] == [second.cycle_id]
    assert first.cycle_id not in str(other) and first.experiment_id not in str(other)


def test_a_new_tenant_sees_an_empty_dashboard(tenant_client: Client) -> None:
    state = tenant_client().get("/api/dashboard/state", params={"limit": 1}).json()
    assert state["experiments"] == [] and state["cycles"] == []
    assert state["winners"]["total"] == 0 and state["models"]["champions"] == []
