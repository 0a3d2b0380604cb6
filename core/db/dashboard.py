"""The dashboard's read model: one tenant's live state in one bounded read.

Composes the data-access functions of the other ``core.db`` modules; every query names the
tenant and every list has a limit, so the answer's size does not grow with the tenant's
history. Experiments show each arm's stored posterior mean (as the sampler last folded it,
without decay to now) beside the shares of the experiment's latest allocation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from core.db import changes, experiments, jobs, learning, model_registry, winners
from core.db.models import Experiment, ExperimentArm, ExperimentEvent, utcnow

__all__ = ["Limits", "snapshot"]
MAX_METRICS = 6  # numeric metrics shown per model version


@dataclass(frozen=True)
class Limits:
    """How much of each list: ``rows`` for lists, ``arms`` per experiment."""

    rows: int
    arms: int


def snapshot(session: Session, *, tenant_id: str, limits: Limits) -> dict[str, Any]:
    """The tenant's experiments (with allocations), winners, changes, learning cycles, models
    and queue depth, newest first, as plain data."""
    return {
        "tenant_id": tenant_id,
        "generated_at": utcnow(),
        "experiments": _experiments(session, tenant_id, limits),
        "winners": _winners(session, tenant_id, limits.rows),
        "changes": _changes(session, tenant_id, limits.rows),
        "cycles": _cycles(session, tenant_id, limits.rows),
        "models": _models(session, tenant_id, limits.rows),
        "queue": {"pending_jobs": jobs.open_counts(session, tenant_id=tenant_id)},
    }


def _experiments(session: Session, tenant_id: str, limits: Limits) -> list[dict[str, Any]]:
    page = experiments.list_experiments(
        session, tenant_id=tenant_id, limit=limits.rows, cursor=None
    )
    ids = [e.experiment_id for e in page.items]
    arms = experiments.arms_of(session, tenant_id=tenant_id, experiment_ids=ids)
    allocations = experiments.latest_events_of(
        session, tenant_id=tenant_id, experiment_ids=ids, kind="allocation"
    )
    return [
        _experiment(e, arms[e.experiment_id], allocations.get(e.experiment_id), limits.arms)
        for e in page.items
    ]


def _experiment(
    exp: Experiment, arms: list[ExperimentArm], allocation: ExperimentEvent | None, max_arms: int
) -> dict[str, Any]:
    split = {a["ad_id"]: a for a in (allocation.payload.get("arms", []) if allocation else [])}
    rows = []
    for arm in arms:
        share = split.get(arm.ad_id, {})
        rows.append(
            {
                "ad_id": arm.ad_id,
                "mean": arm.alpha / (arm.alpha + arm.beta),
                "trials": arm.trials,
                "successes": arm.successes,
                "share": share.get("share"),
                "amount": share.get("amount"),
                "prob_best": share.get("prob_best"),
            }
        )
    rows.sort(key=lambda r: (-(r["share"] or 0.0), -r["mean"], r["ad_id"]))
    return {
        "experiment_id": exp.experiment_id,
        "name": exp.name,
        "status": exp.status,
        "metric": exp.metric,
        "created_at": exp.created_at,
        "leader": rows[0]["ad_id"] if rows else None,
        "allocation": None
        if allocation is None
        else {
            "total_budget": allocation.payload.get("total_budget"),
            "at": allocation.created_at,
        },
        "arms_total": len(rows),
        "arms": rows[:max_arms],
    }


def _winners(session: Session, tenant_id: str, limit: int) -> dict[str, Any]:
    by_reason = winners.winner_counts(session, tenant_id=tenant_id)
    recent = winners.tenant_winners(session, tenant_id, limit)
    return {
        "total": sum(by_reason.values()),
        "by_reason": by_reason,
        "recent": [
            {
                "ad_id": w.ad_id,
                "reason": w.reason,
                "ctr": w.ctr,
                "roas": w.roas,
                "impressions": w.impressions,
                "hook_text": w.hook_text,
                "indexed_at": w.indexed_at,
            }
            for w in recent
        ],
    }


def _changes(session: Session, tenant_id: str, limit: int) -> dict[str, Any]:
    page = changes.list_changes(session, tenant_id=tenant_id, limit=limit)
    return {
        "counts": changes.counts(session, tenant_id, statuses=changes.STATUSES),
        "recent": [
            {
                "id": c.id,
                "kind": c.kind,
                "object_id": c.object_id,
                "ad_id": c.ad_id,
                "status": c.status,
                "old_value": c.old_value,
                "new_value": c.new_value,
                "applied_value": c.applied_value,
                "dry_run": c.dry_run,
                "reason": c.reason,
                "requested_by": c.requested_by,
                "error": c.error,
                "created_at": c.created_at,
                "applied_at": c.applied_at,
            }
            for c in page.items
        ],
    }


def _cycles(session: Session, tenant_id: str, limit: int) -> list[dict[str, Any]]:
    return [
        {
            "cycle_id": c.cycle_id,
            "trigger": c.trigger,
            "status": c.status,
            "started_at": c.started_at,
            "completed_at": c.completed_at,
            "duration_seconds": c.duration_s,
            "steps": [
                {
                    "name": str(step.get("name")),
                    "status": str(step.get("status")),
                    "duration_seconds": step.get("duration_seconds"),
                }
                for step in (c.steps or [])
            ],
        }
        for c in learning.list_cycles(session, tenant_id=tenant_id, limit=limit)
    ]


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    found = {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    return dict(list(found.items())[:MAX_METRICS])


def _models(session: Session, tenant_id: str, limit: int) -> dict[str, Any]:
    versions = model_registry.list_versions(session, tenant_id=tenant_id, limit=limit)
    return {
        "champions": [
            {
                "kind": m.kind,
                "version": m.version,
                "promoted_at": m.promoted_at,
                "metrics": _numbers(m.metrics or {}),
            }
            for m in model_registry.champions(session, tenant_id=tenant_id)
        ],
        "versions": [
            {
                "kind": m.kind,
                "version": m.version,
                "status": m.status,
                "created_at": m.created_at,
                "promoted_at": m.promoted_at,
            }
            for m in versions
        ],
        "decisions": [
            {
                "kind": d.kind,
                "action": d.action,
                "challenger_version": d.challenger_version,
                "champion_version": d.champion_version,
                "reason": d.reason,
                "created_at": d.created_at,
            }
            for d in model_registry.recent_decisions(session, tenant_id=tenant_id, limit=limit)
        ],
    }
