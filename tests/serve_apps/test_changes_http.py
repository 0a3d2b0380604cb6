"""/api/ads/changes through HTTP: queue once per key, list (filters, pages), read with the
audit trail, roll back, tenant scoping, and the route order against /api/ads/{ad_id}."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from core.db.engine import Database
from core.db.models import PendingAdChange, utcnow
from core.settings import Settings

Client = Callable[..., httpx.Client]


def budget(key: str, value: int = 1200, **extra: object) -> dict:
    return {
        "kind": "budget",
        "idempotency_key": key,
        "account_id": "act_1",
        "campaign_id": "c1",
        "ad_set_id": "as1",
        "new_value": value,
        **extra,
    }


def test_the_same_key_twice_is_one_change(tenant_client: Client) -> None:
    c = tenant_client()
    first = c.post("/api/ads/changes", json=budget("k1", reason="scale", confidence=0.9))
    assert first.status_code == 202, first.text
    again = c.post("/api/ads/changes", json=budget("k1", value=999))
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    body = first.json()
    assert (body["status"], body["new_value"], body["object_id"]) == ("pending", 1200, "as1")
    assert body["requested_by"].startswith("api:") and body["confidence"] == 0.9
    detail = c.get(f"/api/ads/changes/{body['id']}").json()
    assert [a["action"] for a in detail["audit"]] == ["requested"]


def test_changes_path_is_not_an_ad_id(tenant_client: Client) -> None:
    c = tenant_client()
    c.post("/api/ads/changes", json=budget("k1"))
    r = c.get("/api/ads/changes")
    assert r.status_code == 200 and len(r.json()["data"]) == 1  # a page, not "unknown ad"
    assert c.get("/api/ads/some-ad").status_code == 404  # the ad route still answers


def test_list_filters_and_pages_newest_first(tenant_client: Client) -> None:
    c = tenant_client()
    for i in range(5):
        c.post("/api/ads/changes", json=budget(f"b{i}", ad_set_id=f"as{i % 2}"))
    c.post(
        "/api/ads/changes",
        json={**budget("s1"), "kind": "status", "new_value": "PAUSED", "ad_id": "ad9"},
    )
    assert [x["idempotency_key"] for x in c.get("/api/ads/changes?kind=status").json()["data"]] == [
        "s1"
    ]  # noqa: E501
    assert len(c.get("/api/ads/changes?ad_set_id=as1&kind=budget").json()["data"]) == 2
    assert len(c.get("/api/ads/changes?ad_id=ad9").json()["data"]) == 1
    seen, cursor = [], None
    while True:
        page = c.get(
            "/api/ads/changes", params={"limit": 2, **({"cursor": cursor} if cursor else {})}
        ).json()  # noqa: E501
        seen += [x["id"] for x in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == 6
    assert c.get("/api/ads/changes?cursor=bogus").status_code == 422
    assert c.get("/api/ads/changes?status=nope").status_code == 422


@pytest.mark.parametrize(
    "body, message",
    [
        ({**budget("x"), "new_value": "PAUSED"}, "positive int"),
        ({**budget("x"), "ad_set_id": None}, "needs ad_set_id"),
        ({**budget("x"), "kind": "status", "new_value": "ON"}, "ACTIVE, PAUSED"),
        ({**budget("x"), "kind": "create_ad", "new_value": {"name": "n"}}, "video_path"),
        ({**budget("x"), "kind": "delete"}, None),
        ({**budget("x"), "idempotency_key": "has space"}, None),
        ({**budget("x"), "confidence": 2}, None),
    ],
)
def test_bad_requests_are_422(tenant_client: Client, body: dict, message: str | None) -> None:
    r = tenant_client().post("/api/ads/changes", json=body)
    assert r.status_code == 422, r.text
    if message:
        assert message in r.json()["error"]


def test_another_tenants_change_is_404(tenant_client: Client) -> None:
    a, b = tenant_client(), tenant_client()
    cid = a.post("/api/ads/changes", json=budget("k1")).json()["id"]
    for method, path in (
        ("GET", f"/api/ads/changes/{cid}"),
        ("POST", f"/api/ads/changes/{cid}/rollback"),
    ):  # noqa: E501
        r = b.request(method, path)
        assert r.status_code == 404 and r.json()["error"] == "change not found"
    assert b.get("/api/ads/changes").json()["data"] == []
    # the same key in another tenant is another change
    assert b.post("/api/ads/changes", json=budget("k1")).json()["id"] != cid


def test_rollback_of_an_applied_change_queues_its_undo(
    tenant_client: Client, app_settings: Settings
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    c = tenant_client(tenant)
    pending = c.post("/api/ads/changes", json=budget("k1")).json()
    assert c.post(f"/api/ads/changes/{pending['id']}/rollback").status_code == 409
    db = Database(app_settings.db_url)  # as if the executor had applied it (for real)
    try:
        with db.session() as s:
            row = s.get(PendingAdChange, pending["id"])
            row.status, row.dry_run, row.old_value, row.applied_value = "applied", False, 1000, 1200
            row.applied_at = utcnow()
            row.earliest_execute_at = utcnow().replace(year=2100)  # keep it from the executor
    finally:
        db.dispose()
    r = c.post(f"/api/ads/changes/{pending['id']}/rollback")
    assert r.status_code == 202, r.text
    undo = r.json()
    assert (undo["rollback_of"], undo["new_value"], undo["kind"]) == (pending["id"], 1000, "budget")
    again = c.post(f"/api/ads/changes/{pending['id']}/rollback")
    assert again.status_code == 200 and again.json()["id"] == undo["id"]
    assert c.post("/api/ads/changes/999999999/rollback").status_code == 404
