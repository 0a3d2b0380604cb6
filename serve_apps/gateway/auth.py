"""API keys on every endpoint but health, metrics and docs; per-key rate limits.

One pure ASGI middleware (no per-request threads, no database on the hot path):

* the key comes from ``Authorization: Bearer <key>`` or ``X-API-Key``;
* missing, malformed or unknown: 401; revoked: 403; over its rate: 429 with
  ``Retry-After``;
* a verified key (and an unknown one) is cached by its SHA-256 for
  ``api.key_cache_ttl_s`` seconds, so revocation takes effect within that time and the
  database sees one lookup per key and replica per TTL (which also records
  ``last_used_at``), sent by one request while the others wait for it, or in the
  background before the entry expires;
* the caller's tenant goes to ``request.state.tenant_id`` (read by ``TenantDep``).

Keys never reach a log: only their prefix does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from core.db.engine import Database
from core.db.keys import KeyInfo, hash_key, key_prefix, lookup_key
from serve_apps.gateway.errors import ErrorBody, error_response
from serve_apps.gateway.ratelimit import RateLimiter
from serve_apps.gateway.routes.dashboard import PUBLIC_PATHS as DASHBOARD_PAGE

log = logging.getLogger("adcluster.gateway.auth")

# No key: probes, metrics, the API docs and the dashboard's page (which holds no data: it
# asks for a key and reads GET /api/dashboard/state with it).
PUBLIC_PATHS = (
    frozenset(
        {
            "/healthz",
            "/readyz",
            "/metrics",
            "/docs",
            "/docs/oauth2-redirect",
            "/redoc",
            "/openapi.json",
        }
    )
    | DASHBOARD_PAGE
)
_BEARER = b"bearer "
_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="adcluster"'}


class KeyCache:
    """Key hash -> (KeyInfo | None, expiry). Bounded; a TTL of 0 disables it.

    One database lookup at a time per key and replica: concurrent requests with a key
    that is not cached share the first one's lookup instead of each sending their own
    (the burst that followed every expiry under load). An entry in use is refreshed in
    the background once ``refresh_at`` of its TTL has passed, so a busy key never makes a
    request wait for the database, and a revocation takes effect within the TTL.

    Stale while revalidating: when that refresh has not come back by the entry's expiry
    (SQLite busy with a long write, the database slow), the entry keeps answering until the
    refresh ends, for at most one more TTL. Requests no longer all stop behind the refresh
    (the gateway benchmark's p99 was 1.6 s in a round where a learning cycle held SQLite's
    write lock); a revocation then takes effect within twice the TTL at worst.
    """

    def __init__(
        self,
        db: Database,
        ttl_s: float,
        *,
        max_entries: int = 10_000,
        refresh_at: float = 0.8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.refresh_when_left_s = ttl_s * (1 - refresh_at)  # of an entry's TTL
        self._clock = clock
        self._entries: dict[str, tuple[KeyInfo | None, float]] = {}
        self._lookups: dict[str, asyncio.Future[KeyInfo | None]] = {}
        self.lookups = 0  # database lookups sent (tests, metrics)

    async def lookup(self, key: str) -> KeyInfo | None:
        digest = hash_key(key)
        hit = self._entries.get(digest)
        now = self._clock()
        running = self._running(digest)
        if hit is not None:
            info, expires = hit
            if expires > now:
                if expires - now < self.refresh_when_left_s and running is None:
                    self._start_lookup(digest, key).add_done_callback(_ignore_failure)
                return info
            if running is not None and now < expires + self.ttl_s:
                return info  # expired while its refresh is in flight: stale, bounded
        running = running or self._start_lookup(digest, key)
        return await asyncio.shield(running)

    def _running(self, digest: str) -> asyncio.Future[KeyInfo | None] | None:
        """The lookup of ``digest`` in flight on this loop (one left on another loop, a
        test client's, is never awaited)."""
        running = self._lookups.get(digest)
        if running is None or running.get_loop() is not asyncio.get_running_loop():
            return None
        return running

    def _start_lookup(self, digest: str, key: str) -> asyncio.Future[KeyInfo | None]:
        self.lookups += 1
        future = asyncio.ensure_future(asyncio.to_thread(lookup_key, self.db, key))
        self._lookups[digest] = future
        future.add_done_callback(lambda f: self._store(digest, f))
        return future

    def _store(self, digest: str, future: asyncio.Future[KeyInfo | None]) -> None:
        if self._lookups.get(digest) is future:
            del self._lookups[digest]
        if self.ttl_s <= 0 or future.cancelled() or future.exception() is not None:
            return  # a failed lookup is not cached: the next request tries again
        now = self._clock()
        if len(self._entries) >= self.max_entries and digest not in self._entries:
            self._prune(now)
        self._entries[digest] = (future.result(), now + self.ttl_s)

    def clear(self) -> None:
        self._entries.clear()

    def _prune(self, now: float) -> None:
        for digest in [d for d, (_, exp) in self._entries.items() if exp <= now]:
            del self._entries[digest]
        if len(self._entries) >= self.max_entries:
            for digest in list(self._entries)[: len(self._entries) // 2]:
                del self._entries[digest]


def _ignore_failure(future: asyncio.Future[Any]) -> None:
    """A background refresh that failed leaves the entry to expire (read the error so
    asyncio does not log it as never retrieved)."""
    if not future.cancelled():
        future.exception()


def extract_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The API key of a request: ``Authorization: Bearer`` first, then ``X-API-Key``."""
    api_key = None
    for name, value in headers:
        if name == b"authorization":
            if value[:7].lower() == _BEARER:
                return value[7:].strip().decode("latin-1")
        elif name == b"x-api-key":
            api_key = value.strip().decode("latin-1")
    return api_key


class ApiKeyAuth:
    """Authenticate, rate-limit, and set the tenant; everything else passes through."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        cache: KeyCache,
        limiter: RateLimiter,
        public_paths: frozenset[str] = PUBLIC_PATHS,
    ) -> None:
        self.app = app
        self.cache = cache
        self.limiter = limiter
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public_paths:
            await self.app(scope, receive, send)
            return
        key = extract_key(scope["headers"])
        if not key:
            await self._deny(scope, receive, send, 401, "missing API key", _UNAUTHORIZED_HEADERS)
            return
        if key_prefix(key) is None:
            await self._deny(scope, receive, send, 401, "invalid API key", _UNAUTHORIZED_HEADERS)
            return
        try:
            info = await self.cache.lookup(key)
        except Exception as exc:
            log.warning("key lookup failed", extra={"error": type(exc).__name__})
            await self._deny(
                scope, receive, send, 503, "authentication unavailable", {"Retry-After": "1"}
            )
            return
        if info is None:
            await self._deny(scope, receive, send, 401, "invalid API key", _UNAUTHORIZED_HEADERS)
            return
        if info.revoked:
            await self._deny(scope, receive, send, 403, "API key revoked")
            return
        wait_s = self.limiter.acquire(info.id, info.rate_limit_per_min)
        if wait_s > 0:
            retry_after = self.limiter.retry_after(wait_s)
            await error_response(
                429,
                "rate limit exceeded",
                {"limit_per_min": info.rate_limit_per_min, "retry_after_s": int(retry_after)},
                {"Retry-After": retry_after},
            )(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["tenant_id"] = info.tenant_id
        state["api_key_prefix"] = info.prefix
        await self.app(scope, receive, send)

    @staticmethod
    async def _deny(
        scope: Scope,
        receive: Receive,
        send: Send,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        await error_response(status, message, None, headers)(scope, receive, send)


def install_auth(app: FastAPI, *, db: Database, settings: Any, replicas: int = 1) -> None:
    """Add the key middleware (unless ``api.require_api_key`` is off) and document it."""
    api = settings.api
    if not api.require_api_key:
        if settings.environment == "production":
            raise ValueError("api.require_api_key must be true in production")
        log.warning("API keys are not required (api.require_api_key=false)")
    else:
        app.state.key_cache = KeyCache(db, api.key_cache_ttl_s)
        app.state.rate_limiter = RateLimiter(share=1.0 / max(1, replicas))
        app.add_middleware(ApiKeyAuth, cache=app.state.key_cache, limiter=app.state.rate_limiter)
    install_openapi_security(app, secured=api.require_api_key)


SECURITY_SCHEMES = {
    "BearerAuth": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer"},
    "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}
_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ERROR_REF}},
    }
    if headers:
        response["headers"] = headers
    return response


_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}


def install_openapi_security(app: FastAPI, *, secured: bool = True) -> None:
    """Document the key schemes and the one error shape on every operation.

    Every non-public operation requires a key and may answer 401/403/429; every
    operation may answer 503 and documents its errors (422 included) as ``ErrorBody``.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas["ErrorBody"] = ErrorBody.model_json_schema()
        if secured:
            components["securitySchemes"] = SECURITY_SCHEMES
        for path, operations in schema.get("paths", {}).items():
            public = path in PUBLIC_PATHS
            for operation in operations.values():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                responses = operation["responses"]
                if "422" in responses:
                    responses["422"] = _error("Validation error")
                if "requestBody" in operation:
                    responses.setdefault("413", _error("Request body too large"))
                responses.setdefault("503", _error("A dependency is unavailable", _RETRY_AFTER))
                responses.setdefault("default", _error("Error"))
                if secured and not public:
                    operation["security"] = [{"BearerAuth": []}, {"ApiKeyHeader": []}]
                    responses.setdefault("401", _error("Missing or unknown API key"))
                    responses.setdefault("403", _error("API key revoked"))
                    responses.setdefault("429", _error("Rate limit exceeded", _RETRY_AFTER))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
