"""The model registry: versioned artifacts under the data dir plus ``model_versions`` rows,
and the champion/challenger decision recorded with its metrics (SPEC §5).

Artifacts: ``<data_dir>/<registry.artifact_dir>/<tenant>/<kind>/<version>.ubj`` (+ ``.json``).
Versions are ``<kind>-<n>`` (``ctr-0003``), counted per tenant and kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.db import model_registry as rows
from core.db.engine import Database
from core.db.models import ModelVersion
from core.domain import evaluation
from core.ml.config import TrainingConfig
from core.ml.model import Kind, Model, TaskData, loss_of, losses, report
from core.settings import Settings


class RegistryError(LookupError):
    """A version or champion that does not exist, or a rollback with nothing to go back to."""


@dataclass(frozen=True)
class Outcome:
    """What a training run's evaluation decided."""

    version: str
    action: str
    reason: str
    champion_version: str | None
    metrics: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "challenger_version": self.version,
            "action": self.action,
            "reason": self.reason,
            "champion_version": self.champion_version,
            "metrics": self.metrics,
        }


def artifact_relpath(config: TrainingConfig, tenant_id: str, kind: str, version: str) -> str:
    return f"{config.registry.artifact_dir}/{tenant_id}/{kind}/{version}.ubj"


def load_artifact(settings: Settings, artifact: str) -> Model:
    return Model.load(settings.resolve(artifact))


def version_dict(row: ModelVersion) -> dict[str, Any]:
    return {
        "version": row.version,
        "kind": row.kind,
        "status": row.status,
        "artifact": row.artifact,
        "dataset_version": row.dataset_version,
        "run_id": row.run_id,
        "params": row.params,
        "metrics": row.metrics,
        "created_at": row.created_at,
        "promoted_at": row.promoted_at,
    }


def champion(db: Database, *, tenant_id: str, kind: str) -> dict[str, Any] | None:
    """The champion's row as a dict (version, artifact, ...), or None."""
    with db.session() as s:
        row = rows.champion(s, tenant_id=tenant_id, kind=kind)
        return version_dict(row) if row else None


def evaluate_and_register(
    db: Database,
    settings: Settings,
    config: TrainingConfig,
    *,
    tenant_id: str,
    kind: Kind,
    model: Model,
    holdout: TaskData,
    dataset_version: str | None,
    run_id: str | None,
    extra_metrics: dict[str, Any] | None = None,
) -> Outcome:
    """Score the challenger (and the champion, if any) on ``holdout``, save the challenger,
    apply the promotion rule and record version and decision in one transaction."""
    promo = config.promotion
    pred = model.predict_matrix(holdout.x)
    challenger_report = report(kind, pred, holdout, bins=promo.calibration_bins)
    current = champion(db, tenant_id=tenant_id, kind=kind)
    champion_losses: np.ndarray | None = None
    champion_report = None
    if current is not None:
        old = load_artifact(settings, current["artifact"])
        old_pred = old.predict_matrix(holdout.x)
        champion_losses = losses(kind, old_pred, holdout)
        champion_report = report(kind, old_pred, holdout, bins=promo.calibration_bins)
    decision = evaluation.decide(
        losses(kind, pred, holdout),
        champion_losses,
        holdout.w,
        margin=promo.margin,
        samples=promo.bootstrap_samples,
        confidence=promo.confidence,
        seed=promo.seed,
    )
    metrics = {
        "challenger": challenger_report,
        "champion": champion_report,
        "decision": decision.to_dict(),
        "loss": loss_of(kind, pred, holdout),
        **(extra_metrics or {}),
    }
    with db.session() as s:
        version = f"{kind}-{rows.count_versions(s, tenant_id=tenant_id, kind=kind) + 1:04d}"
        artifact = artifact_relpath(config, tenant_id, kind, version)
        model.save(settings.resolve(artifact))
        row = rows.add_version(
            s,
            tenant_id=tenant_id,
            kind=kind,
            version=version,
            artifact=artifact,
            dataset_version=dataset_version,
            run_id=run_id,
            params=model.params,
            metrics=metrics,
        )
        if decision.action == "promoted":
            _make_champion(s, tenant_id=tenant_id, kind=kind, row=row)
        rows.add_decision(
            s,
            tenant_id=tenant_id,
            kind=kind,
            action=decision.action,
            challenger_version=version,
            champion_version=current["version"] if current else None,
            reason=decision.reason,
            metrics=metrics,
            run_id=run_id,
        )
    return Outcome(
        version, decision.action, decision.reason, current["version"] if current else None, metrics
    )


def _make_champion(s: Any, *, tenant_id: str, kind: str, row: ModelVersion) -> str | None:
    old = rows.champion(s, tenant_id=tenant_id, kind=kind)
    if old is not None and old.id != row.id:
        rows.set_status(s, row_id=old.id, status="retired")
    rows.set_status(s, row_id=row.id, status="champion", promoted=True)
    return old.version if old else None


def promote(db: Database, *, tenant_id: str, kind: str, version: str, reason: str) -> str | None:
    """Make ``version`` the champion by hand; returns the previous champion's version."""
    with db.session() as s:
        row = rows.get_version(s, tenant_id=tenant_id, kind=kind, version=version)
        if row is None:
            raise RegistryError(f"no {kind} model {version!r}")
        if row.status == "champion":
            return version
        old = _make_champion(s, tenant_id=tenant_id, kind=kind, row=row)
        rows.add_decision(
            s,
            tenant_id=tenant_id,
            kind=kind,
            action="manual",
            challenger_version=version,
            champion_version=old,
            reason=reason,
            metrics={},
        )
        return old


def rollback(db: Database, *, tenant_id: str, kind: str, reason: str) -> tuple[str, str]:
    """Undo the last promotion: the champion becomes ``rolled_back`` and the previously
    promoted model serves again. Returns ``(from_version, to_version)``."""
    with db.session() as s:
        current = rows.champion(s, tenant_id=tenant_id, kind=kind)
        if current is None:
            raise RegistryError(f"no {kind} champion to roll back")
        target = rows.previous_champion(s, tenant_id=tenant_id, kind=kind, before_id=current.id)
        if target is None:
            raise RegistryError(f"no earlier {kind} champion to roll back to")
        rows.set_status(s, row_id=current.id, status="rolled_back")
        rows.set_status(s, row_id=target.id, status="champion", promoted=True)
        rows.add_decision(
            s,
            tenant_id=tenant_id,
            kind=kind,
            action="rollback",
            challenger_version=target.version,
            champion_version=current.version,
            reason=reason,
            metrics={},
        )
        return current.version, target.version


def artifact_exists(settings: Settings, artifact: str) -> bool:
    return Path(settings.resolve(artifact)).is_file()
