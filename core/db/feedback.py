"""Store performance feedback; the winner trigger queues indexing jobs in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import insert, select
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


def _dialect_insert(session: Session):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _launch_times(session: Session, tenant_id: str, ad_ids: list[str]) -> dict[str, datetime]:
    stmt = select(Ad.ad_id, Ad.launched_at).where(Ad.tenant_id == tenant_id, Ad.ad_id.in_(ad_ids))
    return {ad_id: launched for ad_id, launched in session.execute(stmt).all()}


def ensure_ads(session: Session, rows: list[FeedbackRow], tenant_id: str) -> dict[str, datetime]:
    """Launch times of the rows' ads (this tenant's), registering ads seen for the first time."""
    first_seen: dict[str, datetime] = {}
    for r in rows:
        first_seen.setdefault(r.ad_id, r.launched_at or r.observed_at or utcnow())
    found = _launch_times(session, tenant_id, list(first_seen))
    missing = set(first_seen) - set(found)
    if missing:
        new = [{"ad_id": a, "tenant_id": tenant_id, "launched_at": first_seen[a]} for a in missing]
        insert_new = _dialect_insert(session)(Ad).on_conflict_do_nothing(
            index_elements=["tenant_id", "ad_id"]
        )
        session.execute(insert_new, new)
        found = _launch_times(session, tenant_id, list(first_seen))
    return found


def record_feedback(
    session: Session, rows: list[FeedbackRow], *, tenant_id: str, rule: WinnerRule
) -> list[FeedbackResult]:
    """Insert metrics rows (one statement), then report winners and their queued jobs."""
    if not rows:
        return []
    now = utcnow()
    launched = ensure_ads(session, rows, tenant_id)
    values = []
    for r in rows:
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
                "ctr": r.actual_ctr
                if r.actual_ctr is not None
                else derive_ctr(r.impressions, r.clicks),
                "roas": r.actual_roas
                if r.actual_roas is not None
                else derive_roas(r.spend, r.revenue),
                "observed_at": r.observed_at or now,
                "created_at": now,
            }
        )
    if len(values) == 1:
        ids: list[int | None] = [
            session.scalar(insert(PerformanceMetric).returning(PerformanceMetric.id), values[0])
        ]
    else:  # batches skip RETURNING (ids are not reported) and use COPY on PostgreSQL
        _insert_many(session, values)
        ids = [None] * len(values)
    results: list[FeedbackResult] = []
    for v, metrics_id in zip(values, ids, strict=True):
        hours = (v["observed_at"] - launched[v["ad_id"]]).total_seconds() / 3600.0
        win = is_winner(
            hours_live=hours, impressions=v["impressions"], ctr=v["ctr"], roas=v["roas"], rule=rule
        )
        results.append(
            FeedbackResult(
                ad_id=v["ad_id"],
                metrics_id=metrics_id,
                impressions=v["impressions"],
                clicks=v["clicks"],
                conversions=v["conversions"],
                ctr=v["ctr"],
                roas=v["roas"],
                hours_live=hours,
                observed_at=v["observed_at"],
                winner=win,
                reason=winner_reason(v["ctr"], v["roas"], rule) if win else None,
                job_id=None,
            )
        )
    winners = {f"{tenant_id}:{r.ad_id}" for r in results if r.winner}
    if winners:
        jobs = dict(
            session.execute(
                select(PendingJob.dedupe_key, PendingJob.id).where(
                    PendingJob.job_type == JOB_TYPE,
                    PendingJob.status == "pending",
                    PendingJob.dedupe_key.in_(winners),
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


def _insert_many(session: Session, values: list[dict]) -> None:
    """Many metrics rows in the session's transaction; row triggers fire either way."""
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(PerformanceMetric), values)
        return
    raw = session.connection().connection.driver_connection
    cols = ", ".join(_COPY_COLUMNS)
    with raw.cursor() as cur, cur.copy(f"COPY performance_metrics ({cols}) FROM STDIN") as copy:
        for v in values:
            copy.write_row(tuple(v[c] for c in _COPY_COLUMNS))


def _with_job(r: FeedbackResult, job_id: int | None) -> FeedbackResult:
    return replace(r, job_id=job_id)
