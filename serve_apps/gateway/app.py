"""The FastAPI app of the gateway: routers by resource, one error shape, body size limit."""

from __future__ import annotations

import importlib

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from core.video.config import get_video_config
from serve_apps.gateway.auth import install_auth
from serve_apps.gateway.errors import error_response, install_error_handlers
from serve_apps.gateway.feedback_asgi import FeedbackFastPath
from serve_apps.gateway.metrics import install_metrics
from serve_apps.gateway.services import Services

# Router modules, in inclusion order (each exposes ``router``). A request is matched against
# the routes in this order (by FastAPI, and once more by Serve to name its metrics), so the
# hot paths come first.
ROUTERS = (
    "serve_apps.gateway.routes.predict",
    "serve_apps.gateway.routes.feedback",
    "serve_apps.gateway.routes.health",
    "serve_apps.gateway.routes.changes",  # before ads: /api/ads/changes is not an ad id
    "serve_apps.gateway.routes.ads",
    "serve_apps.gateway.routes.rag",
    "serve_apps.gateway.routes.experiments",
    "serve_apps.gateway.routes.jobs",
    "serve_apps.gateway.routes.assets",  # before pro: /api/pro/assets is not an operation
    "serve_apps.gateway.routes.variants",  # before pro: /api/pro/variants is not one either
    "serve_apps.gateway.routes.pro",
    "serve_apps.gateway.routes.training",
    "serve_apps.gateway.routes.learning",
    "serve_apps.gateway.routes.dashboard",
)


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413 (by header and while streaming);
    ``per_path`` gives single paths (uploads) a limit of their own."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, per_path: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = per_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope.get("path", "").rstrip("/"), self.max_bytes)
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._too_large(scope, receive, send, limit)
                return
        seen = 0

        async def limited_receive():  # type: ignore[no-untyped-def]
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._too_large(scope, receive, send, limit)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = error_response(413, f"request body over {limit} bytes")
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def build_app(services: Services, routers: tuple[str, ...] = ROUTERS) -> FastAPI:
    """The gateway app over ``services`` (settings, database, actor handles)."""
    app = FastAPI(
        title="adcluster",
        version="0.1.0",
        description="Self-hosted, self-learning ad-creative optimization on Ray.",
    )
    app.state.services = services
    install_error_handlers(app)
    for module_name in routers:
        app.include_router(importlib.import_module(module_name).router)
    uploads = {"/api/pro/assets": get_video_config().assets.max_upload_bytes}
    app.add_middleware(FeedbackFastPath, fastapi_app=app)  # innermost of ours
    app.add_middleware(
        BodySizeLimit, max_bytes=services.settings.api.max_body_bytes, per_path=uploads
    )
    # Added last = runs first: metrics see every request; keys are checked before bodies.
    install_auth(
        app,
        db=services.db,
        settings=services.settings,
        replicas=int(services.extras.get("replicas", 1)),
    )
    install_metrics(
        app,
        services.settings.metrics,
        services.prediction_log,
        cluster="replica" in services.extras,  # in a Serve replica: cluster-wide figures
    )
    return app
