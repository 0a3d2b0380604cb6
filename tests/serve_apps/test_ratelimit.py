"""Per-key token buckets: the limiter alone, in the app, and through HTTP."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient

from core.db import keys
from core.db.engine import Database
from core.settings import Settings
from serve_apps.gateway.app import build_app
from serve_apps.gateway.ratelimit import RateLimiter
from serve_apps.gateway.services import Services

PATH = "/api/ml/predict/roas"
ROAS = {"ad_id": "a", "current_ctr": 0.01, "current_roas": 1.0, "hours_live": 1, "daily_spend": 1}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_the_per_minute_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    assert [limiter.acquire("k", 60) for _ in range(60)] == [0.0] * 60
    wait = limiter.acquire("k", 60)
    assert wait == pytest.approx(1.0)  # 60/min refills one token a second
    clock.now += 0.5
    assert limiter.acquire("k", 60) == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.acquire("k", 60) == 0.0
    assert limiter.acquire("other", 60) == 0.0  # buckets are per key


def test_refill_is_capped_at_one_minute_of_allowance() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    limiter.acquire("k", 6)
    clock.now += 3600
    assert sum(limiter.acquire("k", 6) == 0.0 for _ in range(10)) == 6


def test_share_splits_a_limit_across_replicas() -> None:
    limiter = RateLimiter(share=0.5, clock=Clock())
    assert sum(limiter.acquire("k", 10) == 0.0 for _ in range(10)) == 5


def test_zero_means_unlimited_and_a_new_limit_applies_at_once() -> None:
    limiter = RateLimiter(clock=Clock())
    assert all(limiter.acquire("k", 0) == 0.0 for _ in range(1000))
    assert limiter.acquire("k", 1) == 0.0 and limiter.acquire("k", 1) > 0


@pytest.mark.parametrize(("wait", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (59.5, "60")])
def test_retry_after_is_whole_seconds_rounded_up(wait: float, header: str) -> None:
    assert RateLimiter.retry_after(wait) == header


def test_bounded_memory() -> None:
    clock = Clock()
    limiter = RateLimiter(max_keys=100, clock=clock)
    for i in range(1000):
        limiter.acquire(i, 10)
    assert len(limiter) <= 100


@pytest.mark.parametrize("bad", [0.0, -1.0, 1.5])
def test_share_must_be_a_fraction(bad: float) -> None:
    with pytest.raises(ValueError, match="share"):
        RateLimiter(share=bad)


def test_app_answers_429_with_retry_after(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings("sqlite")
    db = Database(settings.db_url)
    slow = keys.create_key(db, tenant_id="default", name="slow", rate_limit_per_min=3)
    other = keys.create_key(db, tenant_id="default", name="other", rate_limit_per_min=3)
    with TestClient(build_app(Services(settings=settings, db=db))) as client:
        codes = [
            client.post(PATH, json=ROAS, headers={"X-API-Key": slow}).status_code for _ in range(3)
        ]
        assert codes == [200, 200, 200]
        r = client.post(PATH, json=ROAS, headers={"X-API-Key": slow})
        assert r.status_code == 429
        assert r.headers["retry-after"] == "20"  # 3/min: a token every 20 s
        assert r.json() == {
            "error": "rate limit exceeded",
            "details": {"limit_per_min": 3, "retry_after_s": 20},
        }
        assert client.post(PATH, json=ROAS, headers={"X-API-Key": other}).status_code == 200
        assert client.get("/healthz").status_code == 200  # public paths are not limited
    db.dispose()


@pytest.mark.ray
def test_http_rate_limit(gateway_url: str, app_settings: Settings) -> None:
    db = Database(app_settings.db_url)
    tenant = app_settings.tenant_id
    key = keys.create_key(db, tenant_id=tenant, name="http-429", rate_limit_per_min=4)
    db.dispose()
    with httpx.Client(base_url=gateway_url, headers={"X-API-Key": key}, timeout=30) as c:
        responses = [c.post(PATH, json=ROAS) for _ in range(8)]
    codes = [r.status_code for r in responses]
    # Each of N replicas allows its share of the burst; never more than the key's limit.
    assert 1 <= codes.count(200) <= 4 and set(codes) == {200, 429}, codes
    limited = next(r for r in responses if r.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"] == "rate limit exceeded"
