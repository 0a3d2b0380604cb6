"""Data access for Thompson-sampling experiments (tables ``experiments``, ``experiment_arms``,
``experiment_events``) and the metrics history their posteriors are derived from.

Arm rows are a derived view: the sampler actor refolds them from ``performance_metrics``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from core.db.models import (
    Ad,
    Experiment,
    ExperimentArm,
    ExperimentEvent,
    PerformanceMetric,
    utcnow,
)
from core.db.paging import Page, newest_first
from core.domain.sampler import ExperimentSpec
from core.domain.thompson import Evidence, Snapshot, trials_successes

_IN_CHUNK = 500  # ad ids per IN (...) clause


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _IN_CHUNK):
        yield items[i : i + _IN_CHUNK]


def to_spec(exp: Experiment, ad_ids: Sequence[str]) -> ExperimentSpec:
    return ExperimentSpec(
        experiment_id=exp.experiment_id,
        tenant_id=exp.tenant_id,
        ad_ids=tuple(ad_ids),
        metric=exp.metric,
        prior_alpha=exp.prior_alpha,
        prior_beta=exp.prior_beta,
        half_life_h=exp.decay_half_life_h,
    )


def missing_ads(session: Session, *, tenant_id: str, ad_ids: Sequence[str]) -> list[str]:
    """The ids in ``ad_ids`` that are not ads of ``tenant_id`` (in request order)."""
    found: set[str] = set()
    for chunk in _chunks(ad_ids):
        found.update(
            session.scalars(select(Ad.ad_id).where(Ad.tenant_id == tenant_id, Ad.ad_id.in_(chunk)))
        )
    return [a for a in ad_ids if a not in found]


def create_experiment(
    session: Session, *, spec: ExperimentSpec, name: str | None = None
) -> Experiment:
    """Insert an experiment, its arms at the prior, and a ``created`` event."""
    exp = Experiment(
        experiment_id=spec.experiment_id,
        tenant_id=spec.tenant_id,
        name=name,
        metric=spec.metric,
        prior_alpha=spec.prior_alpha,
        prior_beta=spec.prior_beta,
        decay_half_life_h=spec.half_life_h,
        status="active",
    )
    session.add(exp)
    session.flush()
    session.add_all(
        ExperimentArm(
            tenant_id=spec.tenant_id,
            experiment_id=spec.experiment_id,
            ad_id=ad_id,
            alpha=spec.prior_alpha,
            beta=spec.prior_beta,
            trials=0,
            successes=0,
        )
        for ad_id in spec.ad_ids
    )
    payload = {"ad_ids": list(spec.ad_ids), "name": name}
    add_event(
        session,
        tenant_id=spec.tenant_id,
        experiment_id=spec.experiment_id,
        kind="created",
        payload=payload,
    )
    return exp


def add_arms(session: Session, *, spec: ExperimentSpec, ad_ids: Sequence[str]) -> list[str]:
    """Add ``ad_ids`` as arms at the prior (ids already arms are skipped) and an
    ``arms_added`` event; returns the ids added, in request order."""
    known = set(spec.ad_ids)
    new = [a for a in dict.fromkeys(ad_ids) if a not in known]
    session.add_all(
        ExperimentArm(
            tenant_id=spec.tenant_id,
            experiment_id=spec.experiment_id,
            ad_id=ad_id,
            alpha=spec.prior_alpha,
            beta=spec.prior_beta,
            trials=0,
            successes=0,
        )
        for ad_id in new
    )
    if new:
        add_event(
            session,
            tenant_id=spec.tenant_id,
            experiment_id=spec.experiment_id,
            kind="arms_added",
            payload={"ad_ids": new},
        )
    session.flush()
    return new


def get_experiment(session: Session, *, tenant_id: str, experiment_id: str) -> Experiment | None:
    """The tenant's experiment, or ``None`` (another tenant's id is just unknown)."""
    return session.get(Experiment, {"tenant_id": tenant_id, "experiment_id": experiment_id})


def list_experiments(
    session: Session, *, tenant_id: str, limit: int, cursor: str | None
) -> Page[Experiment]:
    """The tenant's experiments, newest first (``BadCursor`` for a cursor we did not hand out)."""
    return newest_first(
        session,
        select(Experiment).where(Experiment.tenant_id == tenant_id),
        created_at=Experiment.created_at,
        row_id=Experiment.experiment_id,
        limit=limit,
        cursor=cursor,
    )


def list_arms(session: Session, *, tenant_id: str, experiment_id: str) -> list[ExperimentArm]:
    """Arms ordered by ``ad_id``."""
    return list(
        session.scalars(
            select(ExperimentArm)
            .where(
                ExperimentArm.tenant_id == tenant_id,
                ExperimentArm.experiment_id == experiment_id,
            )
            .order_by(ExperimentArm.ad_id)
        )
    )


def _grouped(
    session: Session,
    ids: Sequence[str],
    query: Callable[[list[str]], Select],
    key: Callable[[Any], str],
) -> dict[str, list[Any]]:
    """Rows of ``query(chunk)`` over ``ids`` in chunks, grouped by ``key`` (query order kept);
    every id present, with an empty list when it has no rows."""
    out: dict[str, list[Any]] = {i: [] for i in ids}
    for chunk in _chunks(list(ids)):
        for row in session.scalars(query(chunk)):
            out[key(row)].append(row)
    return out


def arms_of(
    session: Session, *, tenant_id: str, experiment_ids: Sequence[str]
) -> dict[str, list[ExperimentArm]]:
    """The arms of several experiments (one query a chunk), each list ordered by ``ad_id``."""
    return _grouped(
        session,
        experiment_ids,
        lambda chunk: (
            select(ExperimentArm)
            .where(ExperimentArm.tenant_id == tenant_id, ExperimentArm.experiment_id.in_(chunk))
            .order_by(ExperimentArm.experiment_id, ExperimentArm.ad_id)
        ),
        lambda row: row.experiment_id,
    )


def latest_events_of(
    session: Session, *, tenant_id: str, experiment_ids: Sequence[str], kind: str
) -> dict[str, ExperimentEvent]:
    """The newest event of ``kind`` of each experiment that has one."""
    out: dict[str, ExperimentEvent] = {}
    for chunk in _chunks(list(experiment_ids)):
        newest = (
            select(func.max(ExperimentEvent.id))
            .where(
                ExperimentEvent.tenant_id == tenant_id,
                ExperimentEvent.experiment_id.in_(chunk),
                ExperimentEvent.kind == kind,
            )
            .group_by(ExperimentEvent.experiment_id)
        )
        for row in session.scalars(select(ExperimentEvent).where(ExperimentEvent.id.in_(newest))):
            out[row.experiment_id] = row
    return out


def _spec(session: Session, exp: Experiment) -> ExperimentSpec:
    arms = list_arms(session, tenant_id=exp.tenant_id, experiment_id=exp.experiment_id)
    return to_spec(exp, [a.ad_id for a in arms])


def active_experiments(session: Session, tenant_id: str | None = None) -> list[Experiment]:
    """The active experiments of one tenant (or of every tenant)."""
    stmt = select(Experiment).where(Experiment.status == "active")
    if tenant_id is not None:
        stmt = stmt.where(Experiment.tenant_id == tenant_id)
    return list(session.scalars(stmt))


def active_specs(session: Session) -> list[ExperimentSpec]:
    """Every active experiment of every tenant, as sampler specs."""
    return [_spec(session, e) for e in active_experiments(session)]


def load_spec(session: Session, *, tenant_id: str, experiment_id: str) -> ExperimentSpec | None:
    exp = get_experiment(session, tenant_id=tenant_id, experiment_id=experiment_id)
    return None if exp is None else _spec(session, exp)


def metric_history(
    session: Session, *, tenant_id: str, ad_ids: Sequence[str]
) -> dict[str, list[PerformanceMetric]]:
    """Cumulative snapshots per ad, in fold order (``observed_at``, then ``id``)."""
    return _grouped(
        session,
        ad_ids,
        lambda chunk: (
            select(PerformanceMetric)
            .where(PerformanceMetric.tenant_id == tenant_id, PerformanceMetric.ad_id.in_(chunk))
            .order_by(PerformanceMetric.observed_at, PerformanceMetric.id)
        ),
        lambda row: row.ad_id,
    )


def to_snapshots(rows: Iterable[PerformanceMetric], metric: str) -> list[Snapshot]:
    """Metrics rows as sampler snapshots for ``metric``."""
    snaps = []
    for r in rows:
        trials, succ = trials_successes(metric, r.impressions, r.clicks, r.conversions)
        snaps.append(Snapshot(at=r.observed_at.timestamp(), trials=trials, successes=succ))
    return snaps


def save_arms(session: Session, *, spec: ExperimentSpec, evidence: dict[str, Evidence]) -> None:
    """Write arms' evidence (alpha/beta as of each arm's last snapshot)."""
    now = utcnow()
    for ad_id, ev in evidence.items():
        session.execute(
            update(ExperimentArm)
            .where(
                ExperimentArm.tenant_id == spec.tenant_id,
                ExperimentArm.experiment_id == spec.experiment_id,
                ExperimentArm.ad_id == ad_id,
            )
            .values(
                alpha=spec.prior_alpha + ev.successes,
                beta=spec.prior_beta + ev.failures,
                trials=ev.last_trials,
                successes=ev.last_successes,
                observed_at=None if ev.at is None else datetime.fromtimestamp(ev.at, UTC),
                updated_at=now,
            )
        )


def add_event(
    session: Session, *, tenant_id: str, experiment_id: str, kind: str, payload: dict[str, Any]
) -> None:
    session.add(
        ExperimentEvent(
            tenant_id=tenant_id, experiment_id=experiment_id, kind=kind, payload=payload
        )
    )


def _events(tenant_id: str, experiment_id: str) -> Select[tuple[ExperimentEvent]]:
    return (
        select(ExperimentEvent)
        .where(
            ExperimentEvent.tenant_id == tenant_id, ExperimentEvent.experiment_id == experiment_id
        )
        .order_by(ExperimentEvent.id.desc())
    )


def recent_events(
    session: Session, *, tenant_id: str, experiment_id: str, limit: int
) -> list[ExperimentEvent]:
    """The newest ``limit`` events, newest first."""
    return list(session.scalars(_events(tenant_id, experiment_id).limit(limit)))


def latest_event(
    session: Session, *, tenant_id: str, experiment_id: str, kind: str
) -> ExperimentEvent | None:
    stmt = _events(tenant_id, experiment_id).where(ExperimentEvent.kind == kind).limit(1)
    return session.scalars(stmt).first()
