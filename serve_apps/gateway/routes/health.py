"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from serve_apps.gateway.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(services: ServicesDep) -> JSONResponse | dict[str, object]:
    checks: dict[str, bool] = {"database": await asyncio.to_thread(services.db.ping)}
    for name in ("winner_memory",):
        try:
            checks[name] = bool(
                await asyncio.wait_for(services.actor(name).call("ping"), timeout=5)
            )
        except Exception:
            checks[name] = False
    body = {"status": "ready" if all(checks.values()) else "unavailable", "checks": checks}
    if not all(checks.values()):
        return JSONResponse({"error": "not ready", "details": body}, status_code=503)
    return body
