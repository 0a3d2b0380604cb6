"""Tenant-scoped ids, paged lists, job status and rounded answers, through HTTP."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

Client = Callable[..., httpx.Client]


def launched(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


def add_ad(c: httpx.Client, ad_id: str, hours: float, **extra: object) -> dict:
    r = c.post("/api/ads", json={"ad_id": ad_id, "launched_at": launched(hours), **extra})
    assert r.status_code == 200, r.text
    return r.json()


def unknown_ad_answer(c: httpx.Client, method: str, path: str, body: dict | None) -> tuple:
    r = c.request(method, path, json=body)
    return r.status_code, r.json()["error"]


# -- the same ad id in two tenants ------------------------------------------------------


def test_two_tenants_each_have_their_own_ad_123(tenant_client: Client) -> None:
    acme, globex = tenant_client(), tenant_client()
    ad = f"123-{uuid.uuid4().hex[:6]}"
    add_ad(acme, ad, 30, name="acme's", creative={"hook_text": "Half price"})
    add_ad(globex, ad, 1, name="globex's", creative={"hook_text": "Free shipping"})
    assert acme.get(f"/api/ads/{ad}").json()["name"] == "acme's"
    assert globex.get(f"/api/ads/{ad}").json()["name"] == "globex's"
    # Feedback is judged by each tenant's own launch time (30 h vs 1 h live).
    body = {"ad_id": ad, "impressions": 2000, "clicks": 200}
    mine = acme.post("/api/ml/feedback", json=body).json()
    theirs = globex.post("/api/ml/feedback", json=body).json()
    assert (mine["winner"], theirs["winner"]) == (True, False)
    assert mine["hours_live"] == pytest.approx(30, abs=0.1)
    assert theirs["hours_live"] == pytest.approx(1, abs=0.1)
    # Experiments over the shared id stay apart too.
    other = f"o-{uuid.uuid4().hex[:6]}"
    add_ad(acme, other, 30)
    exp = acme.post("/api/ml/experiments", json={"ad_ids": [ad, other]})
    assert exp.status_code == 201, exp.text
    assert globex.get(f"/api/ml/experiments/{exp.json()['experiment_id']}").status_code == 404


CROSS_TENANT_READS = [
    ("GET", "/api/ads/{ad}", None),
    ("POST", "/api/ml/rag/search", {"ad_id": "{ad}", "k": 3}),
    ("POST", "/api/ml/rag/index-winner", {"ad_id": "{ad}"}),
    ("POST", "/api/ml/experiments", {"ad_ids": ["{ad}", "{mine}"]}),
]


@pytest.mark.parametrize(("method", "path", "body"), CROSS_TENANT_READS)
def test_another_tenants_ad_reads_exactly_like_a_missing_one(
    tenant_client: Client, method: str, path: str, body: dict | None
) -> None:
    owner, stranger = tenant_client(), tenant_client()
    ad, mine, never = (f"{p}-{uuid.uuid4().hex[:6]}" for p in ("x", "m", "never"))
    add_ad(owner, ad, 30)
    add_ad(stranger, mine, 30)

    def fill(value: object, target: str) -> object:
        if isinstance(value, str):
            return value.format(ad=target, mine=mine)
        if isinstance(value, list):
            return [fill(v, target) for v in value]
        if isinstance(value, dict):
            return {k: fill(v, target) for k, v in value.items()}
        return value

    foreign = stranger.request(method, fill(path, ad), json=fill(body, ad))
    missing = stranger.request(method, fill(path, never), json=fill(body, never))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"] == missing.json()["error"]
    assert foreign.text.replace(ad, "ID") == missing.text.replace(never, "ID")


def test_posting_another_tenants_ad_id_creates_your_own(tenant_client: Client) -> None:
    owner, other = tenant_client(), tenant_client()
    ad = f"shared-{uuid.uuid4().hex[:6]}"
    add_ad(owner, ad, 30, daily_budget=50)
    r = other.post("/api/ads", json={"ad_id": ad})  # once 409 "already in use"
    assert r.status_code == 200 and r.json()["daily_budget"] is None
    assert owner.get(f"/api/ads/{ad}").json()["daily_budget"] == 50
    r = other.post("/api/ml/feedback", json={"ad_id": ad, "impressions": 10, "clicks": 1})
    assert r.status_code == 200


# -- paged lists ----------------------------------------------------------------------


def pages(c: httpx.Client, path: str, limit: int) -> list[list[dict]]:
    out, cursor = [], None
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        r = c.get(path, params=params)
        assert r.status_code == 200, r.text
        out.append(r.json()["data"])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return out


def test_ads_list_is_the_tenants_own_newest_first_in_pages(tenant_client: Client) -> None:
    c, other = tenant_client(), tenant_client()
    ids = [f"page-{i}-{uuid.uuid4().hex[:4]}" for i in range(5)]
    for ad in ids:
        add_ad(c, ad, 2)
    add_ad(other, "not-mine", 2)
    got = pages(c, "/api/ads", limit=2)
    assert [len(p) for p in got] == [2, 2, 1]
    listed = [a["ad_id"] for p in got for a in p]
    assert listed == ids[::-1]
    add_ad(c, ids[0], 2, name="renamed")  # an update does not move it
    assert [a["ad_id"] for a in c.get("/api/ads").json()["data"]] == ids[::-1]
    assert c.get("/api/ads", params={"limit": 500}).json()["next_cursor"] is None


def test_experiments_list_in_pages(tenant_client: Client) -> None:
    c = tenant_client()
    ads = [f"e-{i}-{uuid.uuid4().hex[:4]}" for i in range(2)]
    for ad in ads:
        add_ad(c, ad, 2)
    made = [
        c.post("/api/ml/experiments", json={"ad_ids": ads, "name": f"n{i}"}).json()
        for i in range(3)
    ]
    got = pages(c, "/api/ml/experiments", limit=2)
    listed = [e["experiment_id"] for p in got for e in p]
    assert sorted(listed) == sorted(e["experiment_id"] for e in made)
    assert [e["name"] for p in got for e in p] == ["n2", "n1", "n0"]
    assert set(got[0][0]) >= {"experiment_id", "name", "metric", "status", "created_at"}
    assert tenant_client().get("/api/ml/experiments").json() == {"data": [], "next_cursor": None}


@pytest.mark.parametrize("path", ["/api/ads", "/api/ml/experiments"])
@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not-a-cursor"}, "invalid cursor"),
        ({"cursor": "WyJ4IiwxXQ"}, "invalid cursor"),  # base64 of ["x",1]
    ],
)
def test_bad_page_parameters_are_422(
    client: httpx.Client, path: str, params: dict, needle: str
) -> None:
    r = client.get(path, params=params)
    assert r.status_code == 422, r.text
    assert needle in r.json()["error"] and set(r.json()) == {"error", "details"}


# -- job status -----------------------------------------------------------------------


def test_job_status_of_a_queued_winner(tenant_client: Client) -> None:
    c, other = tenant_client(), tenant_client()
    ad = f"job-{uuid.uuid4().hex[:6]}"
    add_ad(c, ad, 30)
    job_id = c.post("/api/ml/feedback", json={"ad_id": ad, "impressions": 2000, "clicks": 100})
    job_id = job_id.json()["job_id"]
    assert job_id is not None
    deadline = time.monotonic() + 15
    while (job := c.get(f"/api/ml/jobs/{job_id}").json())["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    assert job["type"] == "rag_index_winner" and job["status"] == "done"
    assert job["attempts"] == 1 and job["last_error"] is None
    assert job["finished_at"] is not None  # times compared as times: a whole second has no
    # fraction in ISO text ("...47Z" sorts after "...47.0296Z" as a string)
    created, finished = (datetime.fromisoformat(job[k]) for k in ("created_at", "finished_at"))
    assert created <= finished
    r = other.get(f"/api/ml/jobs/{job_id}")
    assert r.status_code == 404 and r.json() == {
        "error": "job not found",
        "details": {"job_id": job_id},
    }
    assert c.get("/api/ml/jobs/999999999").status_code == 404
    assert c.get("/api/ml/jobs/abc").status_code == 422


# -- rounding (SPEC §2) -----------------------------------------------------------------


def test_answers_are_rounded(tenant_client: Client) -> None:
    c = tenant_client()
    a, b, d = (f"r{i}-{uuid.uuid4().hex[:6]}" for i in range(3))
    assert add_ad(c, a, 30, daily_budget=12.3456)["daily_budget"] == 12.35
    fb = c.post(
        "/api/ml/feedback",
        json={"ad_id": a, "impressions": 3000, "clicks": 1000, "spend": 3, "revenue": 10},
    ).json()
    assert (fb["ctr"], fb["roas"]) == (0.3333, 3.33)
    add_ad(c, b, 30)
    add_ad(c, d, 30)
    exp = c.post("/api/ml/experiments", json={"ad_ids": [a, b, d]}).json()["experiment_id"]
    alloc = c.post(f"/api/ml/experiments/{exp}/allocate", json={"total_budget": 100}).json()
    amounts = [arm["amount"] for arm in alloc["arms"]]
    assert all(round(x, 2) == x for x in amounts) and round(sum(amounts), 2) == 100
    assert all(round(arm["share"], 4) == arm["share"] for arm in alloc["arms"])
    hit = c.post("/api/ml/rag/index-winner", json={"ad_id": a, "ctr": 1 / 3, "roas": 10 / 3})
    assert (hit.json()["ctr"], hit.json()["roas"]) == (0.3333, 3.33)


def test_openapi_documents_the_new_reads(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    paths, schemas = doc["paths"], doc["components"]["schemas"]
    ok = "200"
    for path, schema in (
        ("/api/ads", "AdPage"),
        ("/api/ml/experiments", "ExperimentPage"),
        ("/api/ml/jobs/{job_id}", "QueuedJobOut"),
    ):
        content = paths[path]["get"]["responses"][ok]["content"]["application/json"]
        assert content["schema"] == {"$ref": f"#/components/schemas/{schema}"}
        assert schema in schemas
    assert {p["name"] for p in paths["/api/ads"]["get"]["parameters"]} >= {"limit", "cursor"}
