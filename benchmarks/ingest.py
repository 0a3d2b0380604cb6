"""Feedback ingest into PostgreSQL with the winner trigger on, through the running gateway.

Batched path (POST /api/ml/feedback/batch, one transaction per request) against a
one-row-per-request loop (POST /api/ml/feedback), same app, same database, same run.
Targets: batched >= 10x the per-row loop, and >= 5,000 rows/s on a 2-core machine.

    .venv/bin/python benchmarks/ingest.py [--rows 20000] [--batch 1000] [--single 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import write_result  # noqa: E402
from cluster import runtime  # noqa: E402
from core.db.engine import Database  # noqa: E402
from core.db.keys import create_key  # noqa: E402
from core.settings import Settings  # noqa: E402
from tests.support import postgres  # noqa: E402


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=20_000, help="rows sent through the batch path")
    ap.add_argument("--batch", type=int, default=1000, help="rows per batch request")
    ap.add_argument("--single", type=int, default=1000, help="rows sent one per request")
    ap.add_argument("--ads", type=int, default=500)
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args()

    base, needs_throwaway = postgres.server_url()
    if needs_throwaway:
        raise SystemExit(f"PostgreSQL does not answer at {base}; set DATABASE_URL")
    url, schema = postgres.new_schema(base)
    settings = Settings.load(database_url=url, api={"max_batch_rows": args.batch})
    try:
        running = runtime.up(settings, "local", port=args.port)
        headers = auth_headers(settings)
        rng = np.random.default_rng(1)
        launched = (datetime.now(UTC) - timedelta(hours=48)).isoformat()
        with httpx.Client(base_url=running.url, headers=headers, timeout=120) as c:
            for i in range(args.ads):
                c.post("/api/ads", json={"ad_id": f"bench-{i}", "launched_at": launched})
            # warm-up
            c.post("/api/ml/feedback/batch", json={"items": rows(100, args.ads, rng)})
            single = rows(args.single, args.ads, rng)
            t0 = time.perf_counter()
            for item in single:
                r = c.post("/api/ml/feedback", json=item)
                r.raise_for_status()
            single_s = time.perf_counter() - t0
            batches = [rows(args.batch, args.ads, rng) for _ in range(args.rows // args.batch)]
            t0 = time.perf_counter()
            winners = 0
            for items in batches:
                r = c.post("/api/ml/feedback/batch", json={"items": items})
                r.raise_for_status()
                winners += r.json()["winners"]
            batch_s = time.perf_counter() - t0
        single_rps = args.single / single_s
        batch_rps = len(batches) * args.batch / batch_s
        result = {
            "benchmark": "ingest",
            "ratio": round(batch_rps / single_rps, 2),
            "batched_rows_per_s": round(batch_rps, 1),
            "per_row_rows_per_s": round(single_rps, 1),
            "batched": {
                "rows": len(batches) * args.batch,
                "batch_size": args.batch,
                "seconds": round(batch_s, 3),
                "winner_rows": winners,
            },
            "per_row": {"rows": args.single, "seconds": round(single_s, 3)},
            "database": "postgresql (winner trigger on)",
            "path": "HTTP through the Serve gateway, sequential client",
            "targets": {"ratio": 10, "batched_rows_per_s": 5000},
        }
        path = write_result("ingest", result)
        print(
            f"per-row {single_rps:,.0f} rows/s, batched {batch_rps:,.0f} rows/s, "
            f"ratio {batch_rps / single_rps:.1f}x -> {path}"
        )
    finally:
        runtime.down(settings)
        postgres.drop_schema(base, schema)


if __name__ == "__main__":
    main()
