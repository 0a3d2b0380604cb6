"""Per-row feedback of many requests into PostgreSQL: async psycopg, one round trip a group.

The hot path of ``POST /api/ml/feedback`` on PostgreSQL (``core.db.feedback`` is the
portable path, used for SQLite and for batches). It runs on the gateway's event loop, no
worker thread: a thread that needs the GIL back after every statement waits behind the
request handlers and leaves its transaction idle. The statements of a group (ad upsert; metrics
insert returning ids and launch times; the queued jobs of rows that may win, when there
are any) go out in one pipeline that ends in one Sync: one round trip and one implicit
transaction, committed at the Sync; the winner trigger works inside it.

Ids come back in parameter order: the rows are inserted by ``ORDER BY`` their position
and take ascending ids from the sequence, so sorted ids map to positions (the technique
SQLAlchemy's ``sort_by_parameter_order`` uses on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime

import psycopg

from core.db.feedback import FeedbackResult, FeedbackRow, judge, rates
from core.db.models import utcnow
from core.db.triggers import JOB_TYPE
from core.domain.winner import WinnerRule, is_winner

UPSERT_ADS = """
INSERT INTO ads (tenant_id, ad_id, platform, status, launched_at, created_at)
SELECT t, a, 'simulator', 'active', l, %(now)s
  FROM unnest(%(tenants)s::text[], %(ads)s::text[], %(launched)s::timestamptz[]) AS u(t, a, l)
ON CONFLICT (tenant_id, ad_id) DO NOTHING
"""
INSERT_METRICS = """
INSERT INTO performance_metrics (tenant_id, ad_id, video_id, impressions, clicks,
    conversions, spend, revenue, ctr, roas, observed_at, created_at)
SELECT t, a, v, i, c, cv, s, r, ctr, roas, o, %(now)s
  FROM unnest(%(tenants)s::text[], %(ads)s::text[], %(videos)s::text[], %(imps)s::int8[],
              %(clicks)s::int8[], %(convs)s::int8[], %(spend)s::float8[],
              %(revenue)s::float8[], %(ctr)s::float8[], %(roas)s::float8[],
              %(observed)s::timestamptz[])
       WITH ORDINALITY AS u(t, a, v, i, c, cv, s, r, ctr, roas, o, pos)
 ORDER BY pos
RETURNING id, (SELECT launched_at FROM ads
                WHERE ads.tenant_id = performance_metrics.tenant_id
                  AND ads.ad_id = performance_metrics.ad_id)
"""
QUEUED_JOBS = """
SELECT dedupe_key, id FROM pending_jobs
 WHERE job_type = %(job_type)s AND status = 'pending' AND dedupe_key = ANY(%(may_win)s::text[])
"""


def _params(items: list[tuple[str, FeedbackRow]], now: datetime, rule: WinnerRule) -> dict:
    rows = [r for _, r in items]
    derived = [rates(r) for r in rows]
    keys = [f"{t}:{r.ad_id}" for t, r in items]
    return {
        "now": now,
        "tenants": [t for t, _ in items],
        "ads": [r.ad_id for r in rows],
        "launched": [r.launched_at or r.observed_at or now for r in rows],
        "videos": [r.video_id for r in rows],
        "imps": [r.impressions for r in rows],
        "clicks": [r.clicks for r in rows],
        "convs": [r.conversions for r in rows],
        "spend": [r.spend for r in rows],
        "revenue": [r.revenue for r in rows],
        "ctr": [ctr for ctr, _ in derived],
        "roas": [roas for _, roas in derived],
        "observed": [r.observed_at or now for r in rows],
        "keys": keys,
        # Rows that win if old enough (the rule with any age): only their queued jobs are
        # worth reading back (a group of rows that cannot win, the usual case, skips it).
        "may_win": [
            key
            for key, r, (ctr, roas) in zip(keys, rows, derived, strict=True)
            if is_winner(
                hours_live=math.inf, impressions=r.impressions, ctr=ctr, roas=roas, rule=rule
            )
        ],
        "job_type": JOB_TYPE,
    }


async def write_feedback_group(
    conn: psycopg.AsyncConnection, items: list[tuple[str, FeedbackRow]], rule: WinnerRule
) -> list[FeedbackResult]:
    """``(tenant, row)`` items in one transaction on ``conn``; results in the items' order.

    Rows are written sorted by (tenant, ad), so concurrent groups take the trigger's locks
    on queued jobs in one order (unsorted, two groups sharing ads can deadlock).
    """
    order = sorted(range(len(items)), key=lambda i: (items[i][0], items[i][1].ad_id))
    results = await _write_sorted(conn, [items[i] for i in order], rule)
    out: list[FeedbackResult | None] = [None] * len(items)
    for i, result in zip(order, results, strict=True):
        out[i] = result
    return [r for r in out if r is not None]


async def _write_sorted(
    conn: psycopg.AsyncConnection, items: list[tuple[str, FeedbackRow]], rule: WinnerRule
) -> list[FeedbackResult]:
    p = _params(items, utcnow(), rule)
    # Autocommit connection: no BEGIN/COMMIT of psycopg's own (each a Sync and a wait). The
    # statements before the pipeline's one Sync run in one implicit transaction, committed
    # at that Sync (all or nothing); leaving the block returns after the commit.
    async with conn.pipeline():
        await conn.execute(UPSERT_ADS, p)
        ids_cur = await conn.execute(INSERT_METRICS, p)
        jobs_cur = await conn.execute(QUEUED_JOBS, p) if p["may_win"] else None
    inserted = sorted(await ids_cur.fetchall())  # (id, launched_at) in parameter order
    jobs = dict(await jobs_cur.fetchall()) if jobs_cur is not None else {}
    return [
        judge(
            row,
            ctr=p["ctr"][k],
            roas=p["roas"][k],
            observed_at=p["observed"][k],
            launched_at=inserted[k][1],
            metrics_id=inserted[k][0],
            rule=rule,
            job_id=jobs.get(p["keys"][k]),
        )
        for k, (_, row) in enumerate(items)
    ]


class AsyncConnectionPool:
    """A few psycopg async connections (autocommit: a pipeline is the transaction), opened
    on first use; a broken one is replaced."""

    def __init__(self, dsn: str, size: int) -> None:
        self.dsn = dsn
        self.size = size
        self._idle: asyncio.Queue[psycopg.AsyncConnection | None] | None = None

    async def run(self, fn, *args):  # type: ignore[no-untyped-def]
        """``await fn(conn, *args)`` on a pooled connection."""
        if self._idle is None:
            self._idle = asyncio.Queue()
            for _ in range(self.size):
                self._idle.put_nowait(None)
        conn = await self._idle.get()
        try:
            if conn is None or conn.closed:
                conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
            return await fn(conn, *args)
        except psycopg.OperationalError:
            if conn is not None:
                await conn.close()
            conn = None
            raise
        finally:
            self._idle.put_nowait(conn)

    async def close(self) -> None:
        if self._idle is None:
            return
        while not self._idle.empty():
            conn = self._idle.get_nowait()
            if conn is not None:
                await conn.close()
        self._idle = None
