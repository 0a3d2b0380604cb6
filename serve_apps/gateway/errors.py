"""One error shape for every response: ``{"error": "<short message>", "details": ...}``."""

from __future__ import annotations

import logging
import math
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from ray.exceptions import (
    ActorDiedError,
    ActorUnavailableError,
    GetTimeoutError,
    RayActorError,
    RayTaskError,
)
from ray.serve.exceptions import (
    BackPressureError,
    DeploymentUnavailableError,
    ReplicaUnavailableError,
)
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("adcluster.gateway")


class ApiError(Exception):
    """An error with an HTTP status, a short message and optional details."""

    def __init__(
        self,
        status_code: int,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.details = details
        self.headers = headers

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised inside an actor or a deployment, it crosses a process boundary pickled.
        return (type(self), (self.status_code, self.message, self.details, self.headers))


class ErrorBody(BaseModel):
    """The body of every error response (for the OpenAPI document)."""

    error: str
    details: Any = None


def error_response(
    status_code: int, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": message, "details": details}, status_code=status_code, headers=headers
    )


def _clean(value: Any) -> Any:
    """Make validation details JSON-safe (NaN/inf inputs, exceptions in ctx)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "loc": list(e.get("loc", ())),
            "msg": e.get("msg", ""),
            "type": e.get("type", ""),
            **({"input": _clean(e["input"])} if "input" in e else {}),
        }
        for e in exc.errors()
    ]


def _summary(details: list[dict[str, Any]]) -> str:
    if details and details[0]["type"] == "json_invalid":
        position = details[0]["loc"][-1] if len(details[0]["loc"]) > 1 else "?"
        return f"invalid JSON body (at character {position})"
    parts = []
    for d in details[:3]:
        loc = ".".join(str(p) for p in d["loc"] if p != "body")
        parts.append(f"{loc}: {d['msg']}" if loc else d["msg"])
    more = f" (+{len(details) - 3} more)" if len(details) > 3 else ""
    return "validation failed: " + "; ".join(parts) + more


def install_error_handlers(app: FastAPI) -> None:
    """Map every failure to the one error shape; never leak a stack trace."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status_code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        return error_response(422, _summary(details), details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "http error"
        return error_response(exc.status_code, message, None, getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    @app.exception_handler(psycopg.OperationalError)  # the async feedback writer's driver
    async def _db_down(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable", extra={"error": type(exc).__name__})
        return error_response(503, "database unavailable", None, {"Retry-After": "1"})

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(_: Request, exc: Exception) -> JSONResponse:
        # A number the schema accepted but storage or arithmetic cannot hold.
        log.info("value out of range", extra={"error": type(exc).__name__})
        return error_response(422, "a value in the request is out of range")

    async def _actor_down(_: Request, exc: Exception) -> JSONResponse:
        log.warning("actor unavailable", extra={"error": type(exc).__name__})
        return error_response(503, "service temporarily unavailable", None, {"Retry-After": "1"})

    for exc_type in (
        RayActorError,
        ActorDiedError,
        ActorUnavailableError,
        GetTimeoutError,
        BackPressureError,
        DeploymentUnavailableError,
        ReplicaUnavailableError,
    ):
        app.add_exception_handler(exc_type, _actor_down)

    @app.exception_handler(RayTaskError)
    async def _downstream(request: Request, exc: RayTaskError) -> JSONResponse:
        """An actor or deployment raised: its 4xx pass through with their message."""
        response = downstream_error_response(exc)
        if response is not None:
            return response
        log.error("downstream error", extra={"error": type(exc.cause).__name__})
        return error_response(500, "internal error")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"error": type(exc).__name__})
        return error_response(500, "internal error")


def downstream_error_response(exc: BaseException) -> JSONResponse | None:
    """The response for a 4xx raised downstream (an ``ApiError`` or anything carrying a
    ``status_code`` in 400..499), unwrapping ``RayTaskError``; None for anything else."""
    cause: BaseException | None = exc
    while isinstance(cause, RayTaskError):
        cause = cause.cause
    if cause is None:
        return None
    if isinstance(cause, ApiError):
        if 400 <= cause.status_code < 500:
            return error_response(cause.status_code, cause.message, cause.details, cause.headers)
        return None
    status = getattr(cause, "status_code", None)
    if isinstance(status, int) and 400 <= status < 500:
        message = getattr(cause, "message", None) or getattr(cause, "detail", None) or str(cause)
        return error_response(status, str(message), getattr(cause, "details", None))
    return None
