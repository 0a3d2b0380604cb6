"""Winner memory over HTTP: index by hand, stats, similarity search."""

from __future__ import annotations

from fastapi import APIRouter

from actors.winner_memory import UnknownAdError
from serve_apps.gateway.deps import ServicesDep, TenantDep
from serve_apps.gateway.errors import ApiError
from serve_apps.gateway.schemas import (
    IndexWinnerIn,
    IndexWinnerOut,
    MemoryStatsOut,
    SearchIn,
    SearchOut,
)

router = APIRouter(prefix="/api/ml/rag", tags=["winner memory"])


@router.post("/index-winner", response_model=IndexWinnerOut)
async def index_winner(
    body: IndexWinnerIn, services: ServicesDep, tenant: TenantDep
) -> IndexWinnerOut:
    """Index one ad now (idempotent per ad); missing metrics come from its latest feedback."""
    payload = {k: v for k, v in body.model_dump().items() if v is not None}
    payload["tenant_id"] = tenant
    try:
        result = await services.winner_memory.call("index_winner", payload)
    except UnknownAdError as exc:
        raise ApiError(404, "unknown ad", {"ad_id": body.ad_id}) from exc
    return IndexWinnerOut(**result)


@router.get("/memory-stats", response_model=MemoryStatsOut)
async def memory_stats(services: ServicesDep, tenant: TenantDep) -> MemoryStatsOut:
    return MemoryStatsOut(**await services.winner_memory.call("stats", tenant))


@router.post("/search", response_model=SearchOut)
async def search(body: SearchIn, services: ServicesDep, tenant: TenantDep) -> SearchOut:
    """Nearest winners to an ad (by id) or to a creative's features."""
    features = body.features.model_dump() if body.features else None
    try:
        hits = await services.winner_memory.call(
            "search", tenant, ad_id=body.ad_id, features=features, k=body.k
        )
    except UnknownAdError as exc:
        raise ApiError(404, "unknown ad", {"ad_id": body.ad_id}) from exc
    return SearchOut(results=hits, k=body.k)
