"""Liveness and readiness. Probes have no side effects: they start, wake or recreate nothing."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from actors import catalogue
from serve_apps.gateway.deps import ServicesDep
from serve_apps.gateway.services import Services

router = APIRouter(tags=["health"])
PING_TIMEOUT_S = 5.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _actor_state(services: Services, role: str) -> dict[str, object]:
    """``{"name", "state"}``: ``alive`` (answered ``ping``), ``missing`` or ``unresponsive``."""
    spec = catalogue.load().spec(role)
    handle = await asyncio.to_thread(catalogue.lookup, role, services.settings)
    if handle is None:
        return {"name": spec.name, "state": "missing"}
    try:
        await asyncio.wait_for(handle.ping.remote(), timeout=PING_TIMEOUT_S)
    except Exception:
        return {"name": spec.name, "state": "unresponsive"}
    return {"name": spec.name, "state": "alive"}


@router.get("/readyz", response_model=None)
async def readyz(services: ServicesDep) -> JSONResponse | dict[str, object]:
    """Ready when the database answers and every catalogue actor answers ``ping``."""
    roles = catalogue.roles()
    database, *states = await asyncio.gather(
        asyncio.to_thread(services.db.ping), *(_actor_state(services, r) for r in roles)
    )
    actors = dict(zip(roles, states, strict=True))
    ok = database and all(a["state"] == "alive" for a in actors.values())
    body = {
        "status": "ready" if ok else "unavailable",
        "checks": {"database": database, **{r: a["state"] == "alive" for r, a in actors.items()}},
        "actors": actors,
    }
    if not ok:
        return JSONResponse({"error": "not ready", "details": body}, status_code=503)
    return body
