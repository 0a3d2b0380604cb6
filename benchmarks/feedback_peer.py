"""The peer of ``benchmarks/feedback.py``: per-row feedback as a user would hand-write it.

One uvicorn process, FastAPI, a pydantic body, the API-key check (SHA-256 of the key
looked up in ``api_keys`` once, then cached), the same body limit, and psycopg 3 with a
small pool of async connections: one transaction a request, the ad upsert plus the metrics
insert; the database's winner trigger does the rest. No Ray, no sampler, no consumer.

    .venv/bin/python -m benchmarks.feedback_peer --port 8002 --database-url postgresql://...
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import psycopg
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy.engine import make_url

UPSERT_AD = (
    "INSERT INTO ads (tenant_id, ad_id, platform, status, launched_at, created_at)"
    " VALUES (%s, %s, 'simulator', 'active', %s, %s)"
    " ON CONFLICT (tenant_id, ad_id) DO NOTHING"
)
INSERT_METRICS = (
    "INSERT INTO performance_metrics (tenant_id, ad_id, video_id, impressions, clicks,"
    " conversions, spend, revenue, ctr, roas, observed_at, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)


class Feedback(BaseModel):
    ad_id: str = Field(min_length=1, max_length=128)
    video_id: str | None = Field(None, max_length=128)
    impressions: int = Field(ge=0)
    clicks: int = Field(ge=0)
    conversions: int = Field(0, ge=0)
    spend: float = Field(0.0, ge=0)
    revenue: float = Field(0.0, ge=0)
    observed_at: datetime | None = None
    launched_at: datetime | None = None


def build_peer(dsn: str, *, pool_size: int = 8, max_body_bytes: int = 1_048_576) -> FastAPI:
    pool: asyncio.Queue[psycopg.AsyncConnection] = asyncio.Queue()
    tenants: dict[str, str] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for _ in range(pool_size):
            pool.put_nowait(await psycopg.AsyncConnection.connect(dsn))
        yield
        while not pool.empty():
            await pool.get_nowait().close()

    app = FastAPI(lifespan=lifespan)

    async def tenant_of(request: Request) -> str:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            raise HTTPException(401, "missing API key")
        digest = hashlib.sha256(auth[7:].encode()).hexdigest()
        if digest not in tenants:
            conn = await pool.get()
            try:
                cur = await conn.execute(
                    "SELECT tenant_id FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL",
                    (digest,),
                )
                row = await cur.fetchone()
                await conn.commit()
            finally:
                pool.put_nowait(conn)
            if row is None:
                raise HTTPException(401, "unknown API key")
            tenants[digest] = row[0]
        return tenants[digest]

    @app.post("/api/ml/feedback")
    async def feedback(request: Request) -> dict:
        if int(request.headers.get("content-length", "0")) > max_body_bytes:
            raise HTTPException(413, "request body too large")
        tenant = await tenant_of(request)
        body = Feedback.model_validate_json(await request.body())
        now = datetime.now(UTC)
        observed = body.observed_at or now
        ctr = body.clicks / body.impressions if body.impressions else 0.0
        roas = body.revenue / body.spend if body.spend else 0.0
        conn = await pool.get()
        try:
            async with conn.transaction():
                await conn.execute(
                    UPSERT_AD, (tenant, body.ad_id, body.launched_at or observed, now)
                )
                cur = await conn.execute(
                    INSERT_METRICS,
                    (
                        tenant,
                        body.ad_id,
                        body.video_id,
                        body.impressions,
                        body.clicks,
                        body.conversions,
                        body.spend,
                        body.revenue,
                        ctr,
                        roas,
                        observed,
                        now,
                    ),
                )
                (metrics_id,) = await cur.fetchone()  # type: ignore[misc]
        finally:
            pool.put_nowait(conn)
        return {"ad_id": body.ad_id, "metrics_id": metrics_id}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app


def libpq_dsn(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://...?options=...``) as a libpq DSN."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--pool-size", type=int, default=8)
    args = parser.parse_args(argv)
    app = build_peer(libpq_dsn(args.database_url), pool_size=args.pool_size)
    uvicorn.run(app, host="127.0.0.1", port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
