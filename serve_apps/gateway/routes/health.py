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
    for name, method in (("winner_memory", "ping"), ("job_consumer", "wake")):
        try:  # a call on an actor killed for good recreates it
            await asyncio.wait_for(services.actor(name).call(method), timeout=5)
            checks[name] = True
        except Exception:
            checks[name] = False
    body = {"status": "ready" if all(checks.values()) else "unavailable", "checks": checks}
    if not all(checks.values()):
        return JSONResponse({"error": "not ready", "details": body}, status_code=503)
    return body
