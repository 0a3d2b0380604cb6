"""``POST /api/ml/feedback`` as plain ASGI: the hottest route without the framework's layers.

Per request, FastAPI's routing, dependency injection, body parsing and response validation
took about 150 µs of the app's 190 µs (in-process, the writer stubbed); this path takes
about 35 µs. This middleware, the innermost of the gateway's own (metrics, API key and body
size limit still run first), answers exactly ``POST /api/ml/feedback`` with a JSON body
that validates: pydantic parses and validates the bytes in one call, the row goes to the
same group commit (``store_feedback``, shared with the route), the answer is the same
``FeedbackOut``.

Everything else goes on to the FastAPI route, which gives the canonical answers: another
path or method, a content type other than ``application/json``, a body that does not
validate (its bytes are replayed, so the 422 is FastAPI's own). An exception while storing is
answered by the app's exception handlers, as if the route had raised it.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.requests import Request
from starlette.routing import NoMatchFound
from starlette.types import ASGIApp, Receive, Scope, Send

from serve_apps.gateway.routes.feedback import post_feedback, router, store_feedback
from serve_apps.gateway.schemas import FeedbackIn

PATH = "/api/ml/feedback"
_JSON_HEADERS = [(b"content-type", b"application/json")]


class FeedbackFastPath:
    """Serve valid ``POST /api/ml/feedback`` requests of ``fastapi_app`` directly."""

    def __init__(self, app: ASGIApp, *, fastapi_app: FastAPI) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.route = _feedback_route(fastapi_app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.route is None
            or scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
            or not _json_content(scope)
        ):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:  # the client went away: nothing stored, no one to answer
            return
        try:
            item = FeedbackIn.model_validate_json(body)
        except ValidationError:
            await self.app(scope, _replay(body, receive), send)
            return
        scope["route"] = self.route  # for the metrics' route label, as routing would
        services = self.fastapi_app.state.services
        tenant = scope.get("state", {}).get("tenant_id") or services.settings.tenant_id
        try:
            out = await store_feedback(services, tenant, item)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            response = await handler(Request(scope, receive), exc)
            await response(scope, receive, send)
            return
        payload = out.model_dump_json().encode()
        headers = [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    def _handler(self, exc: Exception):  # type: ignore[no-untyped-def]
        """The app's handler for ``exc``: the one of its nearest class (as Starlette picks)."""
        handlers = self.fastapi_app.exception_handlers
        return next((handlers[c] for c in type(exc).__mro__ if c in handlers), None)


def _feedback_route(app: FastAPI) -> APIRoute | None:
    """The route this serves, if ``app`` includes it (an app built with some routers only
    may not: then everything passes through)."""
    try:
        app.url_path_for(post_feedback.__name__)
    except NoMatchFound:
        return None
    return next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is post_feedback)


def _json_content(scope: Scope) -> bool:
    """No content type, or ``application/json`` (parameters aside): JSON by FastAPI's rule
    too. Other types, ``+json`` ones included, are left to the route to judge."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return True


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` that hands out ``body`` first (already read), then what follows."""
    pending = True

    async def replay():  # type: ignore[no-untyped-def]
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
