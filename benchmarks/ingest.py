"""Feedback ingest into PostgreSQL with the winner trigger on, through the running gateway.

Three sides, same database schema and trigger, same run:

* the batch endpoint (POST /api/ml/feedback/batch, one transaction a request) with several
  concurrent clients;
* the per-row endpoint (POST /api/ml/feedback) with 32 concurrent connections (wrk, a new
  ad every request, as in ``benchmarks/feedback.py``);
* the physical limit: a direct ``COPY`` of the same rows into ``performance_metrics`` from
  one psycopg connection (what a user would do to bulk-load, with no API in front).

Targets: batched >= 0.3x the direct COPY (``copy_limit_ratio``), batched >= 10x the per-row
endpoint (``ratio``). Medians over rounds.

    .venv/bin/python benchmarks/ingest.py [--rows 20000] [--batch 1000] [--clients 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import write_result  # noqa: E402
from benchmarks.feedback import Load  # noqa: E402
from benchmarks.gateway import find_wrk  # noqa: E402
from cluster import runtime  # noqa: E402
from core.db.engine import Database  # noqa: E402
from core.db.keys import create_key  # noqa: E402
from core.settings import Settings  # noqa: E402
from tests.support import postgres  # noqa: E402

COPY_COLUMNS = (
    "tenant_id, ad_id, video_id, impressions, clicks, conversions, spend, revenue, ctr, roas,"
    " observed_at, created_at"
)


def rows(n: int, n_ads: int, rng: np.random.Generator) -> list[dict]:
    out = []
    for i in range(n):
        imps = int(rng.integers(200, 5000))
        clicks = int(rng.binomial(imps, rng.uniform(0.005, 0.06)))
        spend = round(imps * 0.01, 2)
        out.append(
            {
                "ad_id": f"bench-{i % n_ads}",
                "impressions": imps,
                "clicks": clicks,
                "spend": spend,
                "revenue": round(spend * float(rng.uniform(0.2, 5.0)), 2),
            }
        )
    return out


def auth_headers(settings: Settings) -> dict[str, str]:
    db = Database(settings.db_url)
    try:
        key = create_key(
            db, tenant_id=settings.tenant_id, name="bench", rate_limit_per_min=10_000_000
        )
    finally:
        db.dispose()
    return {"Authorization": f"Bearer {key}"}


async def send_all(url: str, headers: dict, path: str, bodies: list[Any], clients: int) -> float:
    """Post every body with ``clients`` concurrent clients; returns seconds."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as c:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                r = await c.post(path, json=body)
                r.raise_for_status()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return time.perf_counter() - t0


def copy_rows(dsn: str, tenant: str, items: list[dict]) -> float:
    """The physical limit: COPY the same rows in one transaction; returns seconds."""
    now = datetime.now(UTC)
    with psycopg.connect(dsn) as conn:
        t0 = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY performance_metrics ({COPY_COLUMNS}) FROM STDIN") as copy,
        ):
            for r in items:
                ctr = r["clicks"] / r["impressions"]
                roas = r["revenue"] / r["spend"] if r["spend"] else 0.0
                copy.write_row(
                    (
                        tenant,
                        r["ad_id"],
                        None,
                        r["impressions"],
                        r["clicks"],
                        0,
                        r["spend"],
                        r["revenue"],
                        ctr,
                        roas,
                        now,
                        now,
                    )
                )
        conn.commit()
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=20_000, help="rows per round, each side")
    ap.add_argument("--batch", type=int, default=1000, help="rows per batch request")
    ap.add_argument("--clients", type=int, default=4, help="concurrent batch clients")
    ap.add_argument("--single-clients", type=int, default=32)
    ap.add_argument("--single-s", type=float, default=5.0, help="seconds of per-row load")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--ads", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args()

    base, needs_throwaway = postgres.server_url()
    if needs_throwaway:
        raise SystemExit(f"PostgreSQL does not answer at {base}; set DATABASE_URL")
    url, schema = postgres.new_schema(base)
    settings = Settings.load(database_url=url, api={"max_batch_rows": args.batch})
    dsn = Database(url).libpq_dsn
    rounds: list[dict[str, float]] = []
    tmp = tempfile.mkdtemp(prefix="adc-bench-ingest-")
    try:
        running = runtime.up(settings, "local", port=args.port)
        headers = auth_headers(settings)
        wrk = find_wrk(False)
        if wrk is None:
            raise SystemExit("wrk not found (apt-get install -y wrk)")
        load = Load(wrk, headers["Authorization"].split()[1], Path(tmp), args)
        rng = np.random.default_rng(1)
        launched = (datetime.now(UTC) - timedelta(hours=48)).isoformat()
        with httpx.Client(base_url=running.url, headers=headers, timeout=120) as c:
            for i in range(args.ads):
                c.post("/api/ads", json={"ad_id": f"bench-{i}", "launched_at": launched})
            c.post("/api/ml/feedback/batch", json={"items": rows(100, args.ads, rng)})  # warm-up
        for k in range(args.rounds):
            batches = [
                {"items": rows(args.batch, args.ads, rng)} for _ in range(args.rows // args.batch)
            ]
            n_batched = len(batches) * args.batch
            batch_s = asyncio.run(
                send_all(running.url, headers, "/api/ml/feedback/batch", batches, args.clients)
            )
            copy_s = copy_rows(dsn, settings.tenant_id, rows(n_batched, args.ads, rng))
            single = load.run(running.url, args.single_clients, args.single_s)
            r = {
                "batched_rows_per_s": n_batched / batch_s,
                "copy_rows_per_s": n_batched / copy_s,
                "per_row_rows_per_s": single["requests_per_s"],
            }
            rounds.append({key: round(v, 1) for key, v in r.items()})
            print(f"round {k + 1}: {rounds[-1]}", flush=True)
    finally:
        runtime.down(settings)
        postgres.drop_schema(base, schema)

    med = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    result = {
        "benchmark": "feedback ingest into PostgreSQL (winner trigger on)",
        "ratio": round(med["batched_rows_per_s"] / med["per_row_rows_per_s"], 2),
        "copy_limit_ratio": round(med["batched_rows_per_s"] / med["copy_rows_per_s"], 3),
        **{key: round(v, 1) for key, v in med.items()},
        "batch": {"rows_per_request": args.batch, "clients": args.clients},
        "per_row": {"connections": args.single_clients, "seconds": args.single_s, "load": "wrk"},
        "copy": "one psycopg connection, COPY into performance_metrics, one transaction",
        "rows_per_round": (args.rows // args.batch) * args.batch,
        "rounds": rounds,
        "summary": "medians over rounds; the three sides alternate within each round",
        "targets": {"ratio": 10, "copy_limit_ratio": 0.3},
        "path": "HTTP through the Serve gateway (HAProxy, two replicas)",
    }
    path = write_result("ingest", result)
    print(
        f"batched {med['batched_rows_per_s']:,.0f} rows/s = {result['copy_limit_ratio']:.2f}x "
        f"COPY ({med['copy_rows_per_s']:,.0f}); per-row {med['per_row_rows_per_s']:,.0f} rows/s;"
        f" ratio {result['ratio']:.1f}x -> {path}"
    )


if __name__ == "__main__":
    main()
