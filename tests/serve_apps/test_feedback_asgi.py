"""``POST /api/ml/feedback`` served as plain ASGI (``serve_apps.gateway.feedback_asgi``): the
same answers as the FastAPI route, which still answers everything else."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from core.db import keys
from core.db.engine import Database
from core.db.models import PerformanceMetric
from core.settings import Settings
from serve_apps.gateway.app import build_app
from serve_apps.gateway.feedback_asgi import FeedbackFastPath
from serve_apps.gateway.services import Services

PATH = "/api/ml/feedback"
ROW = {"ad_id": "fp-1", "impressions": 2000, "clicks": 80, "spend": 20.0, "revenue": 90.0}


class Local:
    def __init__(self, client: TestClient, db: Database, key: str) -> None:
        self.client, self.db = client, db
        self.headers = {"Authorization": f"Bearer {key}"}
        self.passed_on = 0  # requests the fast path handed to the FastAPI route
        fast = client.app.middleware_stack  # built by the first request
        while not isinstance(fast, FeedbackFastPath):
            fast = fast.app
        self.fast = fast
        route_app = fast.app

        async def counting(scope: Any, receive: Any, send: Any) -> None:
            if scope["path"] == PATH:
                self.passed_on += 1
            await route_app(scope, receive, send)

        fast.app = counting

    def post(self, body: Any = None, content_type: str = "application/json", **kw: Any):
        headers = {**self.headers, "Content-Type": content_type}
        return self.client.post(PATH, json=body, headers=headers, **kw)


@pytest.fixture
def local(make_settings: Callable[..., Settings]) -> Iterator[Local]:
    settings = make_settings("sqlite")
    db = Database(settings.db_url)
    key = keys.create_key(db, tenant_id=settings.tenant_id, name="fast")
    with TestClient(build_app(Services(settings=settings, db=db))) as client:
        assert client.get("/healthz").status_code == 200  # builds the middleware stack
        yield Local(client, db, key)
    db.dispose()


def stored(db: Database, metrics_id: int) -> PerformanceMetric:
    with db.session() as s:
        return s.scalars(select(PerformanceMetric).where(PerformanceMetric.id == metrics_id)).one()


def test_a_valid_row_is_stored_without_the_route(local: Local) -> None:
    r = local.post(ROW)
    assert r.status_code == 200, r.text
    assert local.passed_on == 0
    body = r.json()
    assert body["ad_id"] == "fp-1" and body["ctr"] == 0.04 and body["roas"] == 4.5
    row = stored(local.db, body["metrics_id"])
    assert (row.ad_id, row.impressions, row.clicks, row.revenue) == ("fp-1", 2000, 80, 90.0)


def test_the_route_gives_the_same_answer(local: Local) -> None:
    """``+json`` content goes to the FastAPI route (FastAPI reads it as JSON too)."""
    fast = local.post(ROW).json()
    routed = local.post({**ROW, "ad_id": "fp-2"}, content_type="application/vnd.api+json")
    assert routed.status_code == 200 and local.passed_on == 1
    same = {k: v for k, v in routed.json().items() if k not in ("ad_id", "metrics_id", "job_id")}
    assert same == {k: v for k, v in fast.items() if k not in ("ad_id", "metrics_id", "job_id")}
    assert routed.json().keys() == fast.keys()
    assert fast["hours_live"] == 0  # a new ad without a launch time: launched when observed


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ROW, "clicks": 3000}, "clicks must not exceed impressions"),
        ({**ROW, "impressions": -1}, "impressions"),
        ({**ROW, "extra": 1}, "extra"),
    ],
)
def test_an_invalid_body_gets_the_routes_422(local: Local, body: dict, field: str) -> None:
    r = local.post(body)
    assert r.status_code == 422 and field in r.json()["error"], r.text
    assert local.passed_on == 1  # its bytes replayed to the route
    assert r.json()["details"][0]["loc"][0] == "body"


def test_malformed_json_and_other_types_go_to_the_route(local: Local) -> None:
    r = local.client.post(
        PATH, content=b"{not json", headers={**local.headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["error"].startswith("invalid JSON body")
    r = local.client.post(
        PATH, content=b"ad_id=x", headers={**local.headers, "Content-Type": "text/plain"}
    )
    assert r.status_code == 422
    assert local.passed_on == 2


def test_keys_and_size_limit_still_apply(local: Local) -> None:
    assert local.client.post(PATH, json=ROW).status_code == 401
    big = {**ROW, "video_id": "v" * 2_000_000}
    assert local.post(big).status_code == 413
    assert local.passed_on == 0


def test_metrics_name_the_route(local: Local) -> None:
    assert local.post(ROW).status_code == 200
    text = local.client.get("/metrics", headers=local.headers).text
    assert 'route="/api/ml/feedback"' in text


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (OperationalError("INSERT", {}, Exception("down")), 503),
        (psycopg.OperationalError("connection lost"), 503),
        (RuntimeError("bug"), 500),
    ],
)
def test_a_failed_write_is_answered_by_the_apps_handlers(
    local: Local, error: Exception, status: int
) -> None:
    class Failing:
        async def submit(self, item: Any) -> Any:
            raise error

    services = local.client.app.state.services
    services._feedback_writer = Failing()
    r = local.post(ROW)
    assert r.status_code == status and local.passed_on == 0
    assert r.json()["error"] == ("internal error" if status == 500 else "database unavailable")
    if status == 503:
        assert r.headers["Retry-After"] == "1"
