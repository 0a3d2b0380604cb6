"""The model registry's rows: versions, decisions, training runs (one statement a function).

The champion of a tenant and kind is its one ``model_versions`` row with status
``champion``; promotion and rollback change statuses in one transaction
(``core.ml.registry`` composes these functions).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.db.models import ModelDecision, ModelVersion, TrainingRun, utcnow


def add_version(
    session: Session,
    *,
    tenant_id: str,
    kind: str,
    version: str,
    artifact: str,
    dataset_version: str | None,
    run_id: str | None,
    params: dict[str, Any],
    metrics: dict[str, Any],
) -> ModelVersion:
    row = ModelVersion(
        tenant_id=tenant_id,
        kind=kind,
        version=version,
        status="candidate",
        artifact=artifact,
        dataset_version=dataset_version,
        run_id=run_id,
        params=params,
        metrics=metrics,
    )
    session.add(row)
    session.flush()
    return row


def count_versions(session: Session, *, tenant_id: str, kind: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(ModelVersion)
            .where(ModelVersion.tenant_id == tenant_id, ModelVersion.kind == kind)
        )
        or 0
    )


def get_version(
    session: Session, *, tenant_id: str, kind: str, version: str
) -> ModelVersion | None:
    return session.scalar(
        select(ModelVersion).where(
            ModelVersion.tenant_id == tenant_id,
            ModelVersion.kind == kind,
            ModelVersion.version == version,
        )
    )


def champion(session: Session, *, tenant_id: str, kind: str) -> ModelVersion | None:
    return session.scalar(
        select(ModelVersion).where(
            ModelVersion.tenant_id == tenant_id,
            ModelVersion.kind == kind,
            ModelVersion.status == "champion",
        )
    )


def champions(session: Session, *, tenant_id: str) -> list[ModelVersion]:
    """The tenant's champion of every kind, by kind."""
    stmt = (
        select(ModelVersion)
        .where(ModelVersion.tenant_id == tenant_id, ModelVersion.status == "champion")
        .order_by(ModelVersion.kind)
    )
    return list(session.scalars(stmt))


def previous_champion(
    session: Session, *, tenant_id: str, kind: str, before_id: int
) -> ModelVersion | None:
    """The most recently promoted retired model other than ``before_id`` (rollback target)."""
    return session.scalar(
        select(ModelVersion)
        .where(
            ModelVersion.tenant_id == tenant_id,
            ModelVersion.kind == kind,
            ModelVersion.status == "retired",
            ModelVersion.promoted_at.is_not(None),
            ModelVersion.id != before_id,
        )
        .order_by(ModelVersion.promoted_at.desc(), ModelVersion.id.desc())
        .limit(1)
    )


def set_status(session: Session, *, row_id: int, status: str, promoted: bool = False) -> None:
    values: dict[str, Any] = {"status": status}
    if promoted:
        values["promoted_at"] = utcnow()
    session.execute(update(ModelVersion).where(ModelVersion.id == row_id).values(**values))


def list_versions(
    session: Session, *, tenant_id: str, kind: str | None = None, limit: int = 50
) -> list[ModelVersion]:
    stmt = select(ModelVersion).where(ModelVersion.tenant_id == tenant_id)
    if kind:
        stmt = stmt.where(ModelVersion.kind == kind)
    return list(session.scalars(stmt.order_by(ModelVersion.id.desc()).limit(limit)))


def add_decision(
    session: Session,
    *,
    tenant_id: str,
    kind: str,
    action: str,
    challenger_version: str | None,
    champion_version: str | None,
    reason: str,
    metrics: dict[str, Any],
    run_id: str | None = None,
) -> ModelDecision:
    row = ModelDecision(
        tenant_id=tenant_id,
        kind=kind,
        action=action,
        challenger_version=challenger_version,
        champion_version=champion_version,
        reason=reason,
        metrics=metrics,
        run_id=run_id,
    )
    session.add(row)
    session.flush()
    return row


def decisions_for(
    session: Session, *, tenant_id: str, kind: str, version: str, limit: int = 20
) -> list[ModelDecision]:
    """Decisions that name ``version`` as challenger or champion, newest first."""
    return list(
        session.scalars(
            select(ModelDecision)
            .where(
                ModelDecision.tenant_id == tenant_id,
                ModelDecision.kind == kind,
                (ModelDecision.challenger_version == version)
                | (ModelDecision.champion_version == version),
            )
            .order_by(ModelDecision.id.desc())
            .limit(limit)
        )
    )


def recent_decisions(session: Session, *, tenant_id: str, limit: int) -> list[ModelDecision]:
    """The tenant's newest promotion decisions of every kind (the champion history)."""
    stmt = (
        select(ModelDecision)
        .where(ModelDecision.tenant_id == tenant_id)
        .order_by(ModelDecision.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def add_run(session: Session, *, tenant_id: str, run_id: str, kind: str, source: str) -> None:
    session.add(
        TrainingRun(
            tenant_id=tenant_id, run_id=run_id, kind=kind, source=source, status="queued", trials=[]
        )
    )
    session.flush()


def get_run(session: Session, *, tenant_id: str, run_id: str) -> TrainingRun | None:
    return session.scalar(
        select(TrainingRun).where(TrainingRun.tenant_id == tenant_id, TrainingRun.run_id == run_id)
    )


def update_run(session: Session, *, run_id: str, **values: Any) -> None:
    """Set ``status``, ``trials``, ``decision``, ``error``, ``started_at``, ``finished_at``."""
    session.execute(update(TrainingRun).where(TrainingRun.run_id == run_id).values(**values))
