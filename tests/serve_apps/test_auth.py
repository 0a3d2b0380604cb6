"""API keys on the gateway: in-process (TestClient over ``build_app``) and through HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.db import keys
from core.db.engine import Database
from core.db.models import ApiKey
from core.settings import Settings
from serve_apps.gateway.app import build_app
from serve_apps.gateway.auth import KeyCache
from serve_apps.gateway.deps import TenantDep
from serve_apps.gateway.services import Services

ROAS = {
    "ad_id": "ad-1",
    "current_ctr": 0.02,
    "current_roas": 2.5,
    "hours_live": 80,
    "daily_spend": 100,
}
PATH = "/api/ml/predict/roas"


@pytest.fixture
def local(make_settings: Callable[..., Settings]) -> Iterator[tuple[TestClient, Database]]:
    settings = make_settings("sqlite", api={"key_cache_ttl_s": 0.0})
    db = Database(settings.db_url)
    app = build_app(Services(settings=settings, db=db))
    with TestClient(app) as client:
        yield client, db
    db.dispose()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# -- key data access -----------------------------------------------------------------


def test_key_is_stored_hashed_and_shown_once(local: tuple[TestClient, Database]) -> None:
    _, db = local
    key = keys.create_key(db, tenant_id="default", name="ci")
    assert keys.key_prefix(key) is not None and key.startswith("adc_")
    with db.session() as s:
        row = s.scalar(select(ApiKey))
        assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
        assert key not in (row.key_hash, row.prefix, row.name)
    (info,) = keys.list_keys(db)
    assert info.prefix == keys.key_prefix(key) and info.rate_limit_per_min == 600


def test_first_key_only_once(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings("sqlite")
    db = Database(settings.db_url)
    first = keys.ensure_first_key(db, settings)
    assert first and keys.lookup_key(db, first).tenant_id == settings.tenant_id
    assert keys.ensure_first_key(db, settings) is None
    keys.revoke_key(db, keys.key_prefix(first))
    assert keys.ensure_first_key(db, settings) is None  # revoking everything is kept
    db.dispose()


@pytest.mark.parametrize(
    "bad",
    ["", "adc", "adc__x", "adc_ABCDEF12_x", "adc_1234567_x", "xyz_12345678_x", "adc_12345678_"],
)
def test_malformed_keys_have_no_prefix(bad: str) -> None:
    assert keys.key_prefix(bad) is None


# -- the middleware ------------------------------------------------------------------


def test_public_paths_need_no_key(local: tuple[TestClient, Database]) -> None:
    client, _ = local
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "adcluster_http_requests_total" in metrics.text


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing API key"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "missing API key"),
        ({"Authorization": "Bearer nonsense"}, "invalid API key"),
        ({"X-API-Key": "adc_0123abcd_not-a-real-secret"}, "invalid API key"),
    ],
)
def test_missing_or_unknown_key_is_401(
    local: tuple[TestClient, Database], headers: dict[str, str], message: str
) -> None:
    client, _ = local
    r = client.post(PATH, json=ROAS, headers=headers)
    assert r.status_code == 401
    assert r.json() == {"error": message, "details": None}
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_unknown_route_needs_a_key_too(local: tuple[TestClient, Database]) -> None:
    client, db = local
    assert client.get("/api/nope").status_code == 401
    key = keys.create_key(db, tenant_id="default", name="k")
    r = client.get("/api/nope", headers=bearer(key))
    assert r.status_code == 404 and set(r.json()) == {"error", "details"}


def test_bearer_and_x_api_key_both_work(local: tuple[TestClient, Database]) -> None:
    client, db = local
    key = keys.create_key(db, tenant_id="default", name="k")
    assert client.post(PATH, json=ROAS, headers=bearer(key)).status_code == 200
    assert client.post(PATH, json=ROAS, headers={"X-API-Key": key}).status_code == 200
    assert client.post(PATH, json=ROAS, headers={"authorization": f"bearer {key}"}).is_success
    (info,) = keys.list_keys(db)
    assert info.last_used_at is not None


def test_revoked_key_is_403(local: tuple[TestClient, Database]) -> None:
    client, db = local
    key = keys.create_key(db, tenant_id="default", name="k")
    assert client.post(PATH, json=ROAS, headers=bearer(key)).status_code == 200
    keys.revoke_key(db, keys.key_prefix(key))
    r = client.post(PATH, json=ROAS, headers=bearer(key))
    assert r.status_code == 403 and r.json()["error"] == "API key revoked"


def test_key_sets_the_tenant(local: tuple[TestClient, Database]) -> None:
    client, db = local

    @client.app.get("/api/whoami")
    async def whoami(tenant: TenantDep) -> dict[str, str]:
        return {"tenant": tenant}

    key = keys.create_key(db, tenant_id="acme", name="k")
    assert client.get("/api/whoami", headers=bearer(key)).json() == {"tenant": "acme"}


def test_revocation_takes_effect_within_the_cache_ttl(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings("sqlite", api={"key_cache_ttl_s": 60.0})
    db = Database(settings.db_url)
    app = build_app(Services(settings=settings, db=db))
    key = keys.create_key(db, tenant_id="default", name="k")
    with TestClient(app) as client:
        assert client.post(PATH, json=ROAS, headers=bearer(key)).status_code == 200
        keys.revoke_key(db, keys.key_prefix(key))
        # Still trusted from the cache (one DB lookup per key and TTL) ...
        assert client.post(PATH, json=ROAS, headers=bearer(key)).status_code == 200
        app.state.key_cache.clear()  # ... until the entry expires
        assert client.post(PATH, json=ROAS, headers=bearer(key)).status_code == 403
    db.dispose()


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _migrated_db(make_settings: Callable[..., Settings]) -> Database:
    return Database(make_settings("sqlite").db_url)


def test_concurrent_misses_share_one_lookup(make_settings: Callable[..., Settings]) -> None:
    db = _migrated_db(make_settings)
    key = keys.create_key(db, tenant_id="acme", name="k")
    cache = KeyCache(db, 10.0)

    async def burst() -> list[keys.KeyInfo | None]:
        return await asyncio.gather(*(cache.lookup(key) for _ in range(32)))

    infos = asyncio.run(burst())
    assert cache.lookups == 1  # not one per waiting request
    assert {i.tenant_id for i in infos if i is not None} == {"acme"} and None not in infos
    db.dispose()


def test_a_busy_key_is_refreshed_in_the_background(
    make_settings: Callable[..., Settings],
) -> None:
    db = _migrated_db(make_settings)
    key = keys.create_key(db, tenant_id="acme", name="k")
    clock = _Clock()
    cache = KeyCache(db, 10.0, refresh_at=0.8, clock=clock)

    async def scenario() -> None:
        assert (await cache.lookup(key)).revoked is False  # first use: looked up
        clock.now += 5  # within the TTL, before the refresh point: cached
        await cache.lookup(key)
        assert cache.lookups == 1
        keys.revoke_key(db, keys.key_prefix(key))
        clock.now += 4  # past 80 % of the TTL: answered from the cache, refreshed behind
        assert (await cache.lookup(key)).revoked is False
        assert cache.lookups == 2
        while cache._lookups:  # the refresh finishes in its thread
            await asyncio.sleep(0.01)
        assert (await cache.lookup(key)).revoked is True  # within the TTL of the revocation

    asyncio.run(scenario())
    db.dispose()


def test_a_lookup_left_running_on_a_closed_loop_is_not_awaited(
    make_settings: Callable[..., Settings],
) -> None:
    """Test clients may run each request on a loop of its own: a background refresh left
    behind on a loop that has ended must not hold up every later lookup of the key."""
    db = _migrated_db(make_settings)
    key = keys.create_key(db, tenant_id="acme", name="k")
    cache = KeyCache(db, 10.0)

    other = asyncio.new_event_loop()
    cache._lookups[keys.hash_key(key)] = other.create_future()  # never resolved
    other.close()
    info = asyncio.run(asyncio.wait_for(cache.lookup(key), 10))
    assert info is not None and info.tenant_id == "acme"
    db.dispose()


def test_a_failed_lookup_is_not_cached(make_settings: Callable[..., Settings]) -> None:
    db = _migrated_db(make_settings)
    key = keys.create_key(db, tenant_id="acme", name="k")
    cache = KeyCache(Database("sqlite:////nonexistent/dir/x.db"), 10.0)

    async def scenario() -> keys.KeyInfo | None:
        with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
            await cache.lookup(key)
        cache.db = db  # the database is back: the next request looks the key up again
        return await cache.lookup(key)

    info = asyncio.run(scenario())
    assert info is not None and info.tenant_id == "acme" and cache.lookups == 2
    db.dispose()


def test_database_down_is_503_not_500(local: tuple[TestClient, Database]) -> None:
    client, db = local
    key = keys.create_key(db, tenant_id="default", name="k")
    client.app.state.key_cache.db = Database("sqlite:////nonexistent/dir/x.db")
    r = client.post(PATH, json=ROAS, headers=bearer(key))
    assert r.status_code == 503 and r.headers["retry-after"] == "1"


def test_keys_never_reach_the_logs(
    local: tuple[TestClient, Database], caplog: pytest.LogCaptureFixture
) -> None:
    client, db = local
    key = keys.create_key(db, tenant_id="default", name="k")
    with caplog.at_level(logging.DEBUG):
        client.post(PATH, json=ROAS, headers=bearer(key))
        client.post(PATH, json=ROAS, headers=bearer(key + "x"))
        client.app.state.key_cache.db = Database("sqlite:////nonexistent/dir/x.db")
        client.post(PATH, json=ROAS, headers=bearer(key + "y"))
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert key not in text and keys.key_prefix(key) + "_" not in text


def test_openapi_documents_keys_and_error_shape(local: tuple[TestClient, Database]) -> None:
    client, _ = local
    doc = client.get("/openapi.json").json()
    assert set(doc["components"]["securitySchemes"]) == {"BearerAuth", "ApiKeyHeader"}
    op = doc["paths"][PATH]["post"]
    assert {"BearerAuth": []} in op["security"]
    for status in ("401", "403", "422", "429"):
        assert op["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorBody"
        }
    assert "security" not in doc["paths"]["/healthz"]["get"]


def test_require_api_key_false_is_refused_in_production(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings("sqlite", environment="production", api={"require_api_key": False})
    db = Database(settings.db_url)
    with pytest.raises(ValueError, match="require_api_key"):
        build_app(Services(settings=settings, db=db))
    db.dispose()


# -- through HTTP, on the session's running gateway -----------------------------------


@pytest.mark.ray
def test_http_missing_revoked_and_valid_key(gateway_url: str, app_settings: Settings) -> None:
    db = Database(app_settings.db_url)
    key = keys.create_key(db, tenant_id=app_settings.tenant_id, name="http-auth")
    with httpx.Client(base_url=gateway_url, timeout=30) as c:
        assert c.get("/healthz").status_code == 200
        missing = c.post(PATH, json=ROAS)
        assert missing.status_code == 401 and missing.json()["error"] == "missing API key"
        assert c.post(PATH, json=ROAS, headers=bearer(key + "0")).status_code == 401
        ok = c.post(PATH, json=ROAS, headers={"X-API-Key": key})
        assert ok.status_code == 200 and ok.json()["confidence"] == "high"
        keys.revoke_key(db, keys.key_prefix(key))
        deadline = app_settings.api.key_cache_ttl_s + 5
        start = time.monotonic()
        while (r := c.post(PATH, json=ROAS, headers=bearer(key))).status_code == 200:
            assert time.monotonic() - start < deadline, "revocation not seen within the TTL"
            time.sleep(0.25)
        assert r.status_code == 403 and r.json() == {"error": "API key revoked", "details": None}
    db.dispose()


def test_an_entry_whose_refresh_is_late_answers_for_one_more_ttl_at_most(
    make_settings: Callable[..., Settings],
) -> None:
    """A refresh held up by the database (SQLite's write lock taken by a long transaction)
    does not stop every request at the entry's expiry: the entry answers while its refresh
    is in flight, up to one more TTL; after that, requests wait for the database."""
    db = _migrated_db(make_settings)
    key = keys.create_key(db, tenant_id="acme", name="k")
    clock = _Clock()
    cache = KeyCache(db, 10.0, refresh_at=0.8, clock=clock)
    digest = keys.hash_key(key)

    async def scenario() -> None:
        assert (await cache.lookup(key)).tenant_id == "acme"
        stuck = asyncio.get_running_loop().create_future()  # a refresh that never returns
        cache._lookups[digest] = stuck
        clock.now += 12  # expired 2 s ago, its refresh in flight: answered, stale
        assert (await asyncio.wait_for(cache.lookup(key), 5)).tenant_id == "acme"
        clock.now += 9  # 11 s past expiry: beyond the grace, the request waits
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(cache.lookup(key), 0.2)
        stuck.set_result(None)  # the refresh ends: the key is gone
        assert await cache.lookup(key) is None

    asyncio.run(scenario())
    db.dispose()


def test_an_expired_entry_with_no_refresh_in_flight_is_looked_up_again(
    make_settings: Callable[..., Settings],
) -> None:
    """An idle key's entry is not served stale: past its TTL the next request waits for a
    fresh lookup, which sees a revocation."""
    db = _migrated_db(make_settings)
    key = keys.create_key(db, tenant_id="acme", name="k")
    clock = _Clock()
    cache = KeyCache(db, 10.0, clock=clock)

    async def scenario() -> None:
        assert (await cache.lookup(key)).revoked is False
        keys.revoke_key(db, keys.key_prefix(key))
        clock.now += 10.5
        assert (await cache.lookup(key)).revoked is True
        assert cache.lookups == 2

    asyncio.run(scenario())
    db.dispose()
