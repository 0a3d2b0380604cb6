"""Store performance feedback; the winner trigger queues indexing jobs in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.db.models import Ad, PendingJob, PerformanceMetric, utcnow
from core.db.triggers import JOB_TYPE
from core.domain.winner import WinnerRule, derive_ctr, derive_roas, is_winner, winner_reason


@dataclass(frozen=True)
class FeedbackRow:
    ad_id: str
    impressions: int
    clicks: int
    conversions: int = 0
    spend: float = 0.0
    revenue: float = 0.0
    video_id: str | None = None
    actual_ctr: float | None = None
    actual_roas: float | None = None
    observed_at: datetime | None = None
    launched_at: datetime | None = None


@dataclass(frozen=True)
class FeedbackResult:
    ad_id: str
    metrics_id: int | None  # None for rows stored through the batch path
    impressions: int
    clicks: int
    conversions: int
    ctr: float
    roas: float
    hours_live: float
    observed_at: datetime
    winner: bool
    reason: str | None
    job_id: int | None


Connectable = Session | Connection


def rates(r: FeedbackRow) -> tuple[float, float]:
    """The row's (CTR, ROAS): as given, else derived from its counts and money."""
    ctr = r.actual_ctr if r.actual_ctr is not None else derive_ctr(r.impressions, r.clicks)
    roas = r.actual_roas if r.actual_roas is not None else derive_roas(r.spend, r.revenue)
    return ctr, roas


def judge(
    r: FeedbackRow,
    *,
    ctr: float,
    roas: float,
    observed_at: datetime,
    launched_at: datetime,
    metrics_id: int | None,
    rule: WinnerRule,
    job_id: int | None = None,
) -> FeedbackResult:
    """A stored row's answer: hours live from the ad's launch, the winner rule's verdict."""
    hours = (observed_at - launched_at).total_seconds() / 3600.0
    win = is_winner(hours_live=hours, impressions=r.impressions, ctr=ctr, roas=roas, rule=rule)
    return FeedbackResult(
        ad_id=r.ad_id,
        metrics_id=metrics_id,
        impressions=r.impressions,
        clicks=r.clicks,
        conversions=r.conversions,
        ctr=ctr,
        roas=roas,
        hours_live=hours,
        observed_at=observed_at,
        winner=win,
        reason=winner_reason(ctr, roas, rule) if win else None,
        job_id=job_id if win else None,
    )


def _dialect(conn: Connectable) -> str:
    bind = conn.get_bind() if isinstance(conn, Session) else conn
    return bind.dialect.name


def _dialect_insert(conn: Connectable):  # type: ignore[no-untyped-def]
    return pg_insert if _dialect(conn) == "postgresql" else sqlite_insert


_ADS = Ad.__table__
_METRICS = PerformanceMetric.__table__
_JOBS = PendingJob.__table__


def _launch_times(conn: Connectable, tenant_id: str, ad_ids: list[str]) -> dict[str, datetime]:
    stmt = select(_ADS.c.ad_id, _ADS.c.launched_at).where(
        _ADS.c.tenant_id == tenant_id, _ADS.c.ad_id.in_(ad_ids)
    )
    return {ad_id: launched for ad_id, launched in conn.execute(stmt).all()}


def ensure_ads(
    conn: Connectable, rows: list[FeedbackRow], tenant_id: str, now: datetime
) -> dict[str, datetime]:
    """Launch times of the rows' ads (this tenant's), registering ads seen for the first time
    (launched at the row's ``launched_at``, else its ``observed_at``, else ``now``: the time
    the caller stores as the row's observation, so a new ad is never live for less than 0 h).

    One SELECT when every ad is known; else one INSERT ... ON CONFLICT DO NOTHING RETURNING
    for the new ones (and a second SELECT only for an ad another transaction inserted first).
    """
    first_seen: dict[str, datetime] = {}
    for r in rows:
        first_seen.setdefault(r.ad_id, r.launched_at or r.observed_at or now)
    found = _launch_times(conn, tenant_id, list(first_seen))
    missing = [a for a in first_seen if a not in found]
    if missing:
        new = [  # by ad id: one lock order for concurrent writers
            {
                "ad_id": a,
                "tenant_id": tenant_id,
                "launched_at": first_seen[a],
                "platform": "simulator",
                "status": "active",
                "created_at": now,
            }
            for a in sorted(missing)
        ]
        insert_new = (
            _dialect_insert(conn)(_ADS)
            .values(new)
            .on_conflict_do_nothing(index_elements=["tenant_id", "ad_id"])
            .returning(_ADS.c.ad_id, _ADS.c.launched_at)
        )
        found.update(dict(conn.execute(insert_new).all()))
        raced = [a for a in missing if a not in found]
        if raced:
            found.update(_launch_times(conn, tenant_id, raced))
    return found


def record_feedback(
    conn: Connectable,
    rows: list[FeedbackRow],
    *,
    tenant_id: str,
    rule: WinnerRule,
    with_ids: bool | None = None,
) -> list[FeedbackResult]:
    """Insert metrics rows (one statement), then report winners and their queued jobs.

    ``with_ids`` (default: for a single row) reports each row's ``metrics_id`` through
    RETURNING; without it, PostgreSQL gets the rows by COPY and the ids stay None.
    """
    if not rows:
        return []
    if with_ids is None:
        with_ids = len(rows) == 1
    now = utcnow()
    launched = ensure_ads(conn, rows, tenant_id, now)
    values = []
    for r in rows:
        ctr, roas = rates(r)
        values.append(
            {
                "tenant_id": tenant_id,
                "ad_id": r.ad_id,
                "video_id": r.video_id,
                "impressions": r.impressions,
                "clicks": r.clicks,
                "conversions": r.conversions,
                "spend": r.spend,
                "revenue": r.revenue,
                "ctr": ctr,
                "roas": roas,
                "observed_at": r.observed_at or now,
                "created_at": now,
            }
        )
    # Rows go in by ad, so concurrent transactions take the trigger's locks on queued jobs
    # in one order (unsorted, two batches sharing ads deadlock on PostgreSQL).
    order = sorted(range(len(values)), key=lambda i: values[i]["ad_id"])
    in_order = [values[i] for i in order]
    ids: list[int | None] = [None] * len(values)
    if with_ids:
        stmt = insert(_METRICS).returning(_METRICS.c.id, sort_by_parameter_order=True)
        for i, metrics_id in zip(order, conn.execute(stmt, in_order).scalars(), strict=True):
            ids[i] = metrics_id
    else:  # batches skip RETURNING (ids are not reported) and use COPY on PostgreSQL
        _insert_many(conn, in_order)
    results: list[FeedbackResult] = []
    for r, v, metrics_id in zip(rows, values, ids, strict=True):
        results.append(
            judge(
                r,
                ctr=v["ctr"],
                roas=v["roas"],
                observed_at=v["observed_at"],
                launched_at=launched[r.ad_id],
                metrics_id=metrics_id,
                rule=rule,
            )
        )
    winners = {f"{tenant_id}:{r.ad_id}" for r in results if r.winner}
    if winners:
        jobs = dict(
            conn.execute(
                select(_JOBS.c.dedupe_key, _JOBS.c.id).where(
                    _JOBS.c.job_type == JOB_TYPE,
                    _JOBS.c.status == "pending",
                    _JOBS.c.dedupe_key.in_(winners),
                )
            ).all()
        )
        results = [
            r if not r.winner else _with_job(r, jobs.get(f"{tenant_id}:{r.ad_id}")) for r in results
        ]
    return results


_COPY_COLUMNS = (
    "tenant_id",
    "ad_id",
    "video_id",
    "impressions",
    "clicks",
    "conversions",
    "spend",
    "revenue",
    "ctr",
    "roas",
    "observed_at",
    "created_at",
)


def _insert_many(conn: Connectable, values: list[dict]) -> None:
    """Many metrics rows in the caller's transaction; row triggers fire either way."""
    if _dialect(conn) != "postgresql":
        conn.execute(insert(_METRICS), values)
        return
    connection = conn.connection() if isinstance(conn, Session) else conn
    raw = connection.connection.driver_connection
    cols = ", ".join(_COPY_COLUMNS)
    with raw.cursor() as cur, cur.copy(f"COPY performance_metrics ({cols}) FROM STDIN") as copy:
        for v in values:
            copy.write_row(tuple(v[c] for c in _COPY_COLUMNS))


def _with_job(r: FeedbackResult, job_id: int | None) -> FeedbackResult:
    return replace(r, job_id=job_id)


def record_feedback_groups(
    conn: Connectable, items: list[tuple[str, FeedbackRow]], *, rule: WinnerRule
) -> list[FeedbackResult]:
    """``(tenant, row)`` items of several callers in the caller's one transaction, each with
    its ``metrics_id``; results in the items' order."""
    by_tenant: dict[str, list[int]] = {}
    for i, (tenant, _) in enumerate(items):
        by_tenant.setdefault(tenant, []).append(i)
    out: list[FeedbackResult | None] = [None] * len(items)
    for tenant, positions in by_tenant.items():
        rows = [items[i][1] for i in positions]
        results = record_feedback(conn, rows, tenant_id=tenant, rule=rule, with_ids=True)
        for i, result in zip(positions, results, strict=True):
            out[i] = result
    return [r for r in out if r is not None]


def stored_snapshots(
    conn: Connectable, tenant_id: str, rows: list[FeedbackRow]
) -> set[tuple[str, datetime]]:
    """The ``(ad_id, observed_at)`` of ``rows`` already stored for the tenant (one SELECT over
    the rows' ads and time span, served by ``ix_performance_metrics_tenant_ad``)."""
    times = [r.observed_at for r in rows if r.observed_at is not None]
    if not times:
        return set()
    stmt = select(_METRICS.c.ad_id, _METRICS.c.observed_at).where(
        _METRICS.c.tenant_id == tenant_id,
        _METRICS.c.ad_id.in_(sorted({r.ad_id for r in rows})),
        _METRICS.c.observed_at >= min(times),
        _METRICS.c.observed_at <= max(times),
    )
    return {(ad_id, at) for ad_id, at in conn.execute(stmt).all()}


def record_new_feedback(
    conn: Connectable, rows: list[FeedbackRow], *, tenant_id: str, rule: WinnerRule
) -> tuple[list[FeedbackResult], int]:
    """:func:`record_feedback` for the rows whose snapshot (ad, ``observed_at``) is not stored
    yet; returns their results and how many were skipped. Re-importing a file adds nothing.

    Imports of one tenant take turns (a transaction-scoped advisory lock on PostgreSQL;
    SQLite's writers are serialised already), so two imports of the same file cannot both
    find a snapshot missing. Rows without ``observed_at`` cannot be matched: always stored.
    """
    if _dialect(conn) == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"adc-import:{tenant_id}"},
        )
    stored = stored_snapshots(conn, tenant_id, rows)
    new = [r for r in rows if (r.ad_id, r.observed_at) not in stored]
    results = record_feedback(conn, new, tenant_id=tenant_id, rule=rule, with_ids=False)
    return results, len(rows) - len(new)
