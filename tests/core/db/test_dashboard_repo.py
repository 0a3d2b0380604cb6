"""The dashboard's read model on SQLite and PostgreSQL: one tenant's state, bounded lists, and
nothing of another tenant (which has rows with the same ids)."""

from __future__ import annotations

from datetime import timedelta

from core.db import changes, dashboard, experiments, jobs, learning, model_registry, winners
from core.db.ads import upsert_ad
from core.db.changes import ChangeRequest
from core.db.engine import Database
from core.db.models import utcnow
from core.domain.sampler import ExperimentSpec

LIMITS = dashboard.Limits(rows=3, arms=2)


def seed(db: Database, tenant: str, tag: str) -> None:
    """A tenant's world: ``tag`` marks what only this tenant has (names, versions, ads)."""
    now = utcnow()
    with db.session() as s:
        for i in range(3):
            upsert_ad(s, tenant_id=tenant, ad_id=f"ad{i}")
    with db.session() as s:
        for n in range(4):  # one more than LIMITS.rows
            spec = ExperimentSpec(f"e{n}", tenant, ("ad0", "ad1", "ad2"))
            exp = experiments.create_experiment(s, spec=spec, name=f"{tag} experiment {n}")
            exp.created_at = now - timedelta(minutes=10 - n)
        experiments.add_event(
            s,
            tenant_id=tenant,
            experiment_id="e3",
            kind="allocation",
            payload={
                "total_budget": 100.0,
                "arms": [
                    {"ad_id": "ad0", "amount": 10.0, "share": 0.1, "prob_best": 0.05},
                    {"ad_id": "ad1", "amount": 60.0, "share": 0.6, "prob_best": 0.8},
                    {"ad_id": "ad2", "amount": 30.0, "share": 0.3, "prob_best": 0.15},
                ],
            },
        )
    with db.session() as s:
        common = {"vector": [0.0], "embedder": "hashed", "roas": 1.0, "impressions": 5000}
        winners.upsert_winners(
            s,
            [
                {"tenant_id": tenant, "ad_id": f"{tag}-w{i}", "reason": r, "ctr": 0.05, **common}
                for i, r in enumerate(("ctr", "ctr", "roas", "both", "ctr"))
            ],
        )
        for i in range(4):
            changes.enqueue(
                s,
                ChangeRequest(
                    tenant_id=tenant,
                    idempotency_key=f"k{i}",
                    kind="budget",
                    account_id="act",
                    campaign_id="c",
                    object_id=f"{tag}-as{i}",
                    ad_set_id=f"{tag}-as{i}",
                    new_value=1000 + i,
                    requested_by="test",
                    earliest_execute_at=now,
                ),
            )
        for i in range(2):
            jobs.enqueue(s, "rag_index_winner", {"i": i}, tenant_id=tenant)
    with db.session() as s:
        cycle = learning.start_cycle(s, tenant_id=tenant, trigger="api", owner="o")
        steps = [{"name": "winner_refresh", "status": "completed", "duration_seconds": 0.5}]
        learning.finish_cycle(
            s, cycle.cycle_id, owner="o", status="completed", steps=steps, error=None, now=now
        )
        for v in ("v1", "v2"):
            row = model_registry.add_version(
                s,
                tenant_id=tenant,
                kind="ctr",
                version=f"{tag}-{v}",
                artifact="x",
                dataset_version=None,
                run_id=None,
                params={},
                metrics={"log_loss": 0.2, "auc": 0.7, "note": "text is left out"},
            )
        model_registry.set_status(s, row_id=row.id, status="champion", promoted=True)
        model_registry.add_decision(
            s,
            tenant_id=tenant,
            kind="ctr",
            action="promoted",
            challenger_version=f"{tag}-v2",
            champion_version=f"{tag}-v1",
            reason="better log loss",
            metrics={},
        )


def test_snapshot_is_the_tenants_own_and_bounded(db: Database) -> None:
    seed(db, "t1", "alpha")
    seed(db, "t2", "beta")  # same experiment, ad and change ids
    with db.session() as s:
        claimed = jobs.claim(s, worker="w", limit=1, lease_s=30)
        assert claimed and claimed[0].tenant_id == "t1"
        state = dashboard.snapshot(s, tenant_id="t1", limits=LIMITS)

    assert "beta" not in repr(state)  # nothing of the other tenant
    assert state["tenant_id"] == "t1"
    exps = state["experiments"]
    assert [e["experiment_id"] for e in exps] == ["e3", "e2", "e1"]  # newest first, 3 of 4
    top = exps[0]
    assert top["name"] == "alpha experiment 3" and top["leader"] == "ad1"
    assert top["arms_total"] == 3 and [a["ad_id"] for a in top["arms"]] == ["ad1", "ad2"]
    assert top["arms"][0]["share"] == 0.6 and top["arms"][0]["prob_best"] == 0.8
    assert top["allocation"]["total_budget"] == 100.0
    assert exps[1]["allocation"] is None and exps[1]["arms"][0]["share"] is None
    assert exps[1]["arms"][0]["mean"] == 0.5  # the prior Beta(1, 1)

    assert state["winners"]["total"] == 5
    assert state["winners"]["by_reason"] == {"ctr": 3, "roas": 1, "both": 1}
    assert len(state["winners"]["recent"]) == 3

    assert state["changes"]["counts"]["pending"] == 4
    assert state["changes"]["counts"]["applied"] == 0
    assert [c["object_id"] for c in state["changes"]["recent"]] == [
        "alpha-as3",
        "alpha-as2",
        "alpha-as1",
    ]

    (cycle,) = state["cycles"]
    assert cycle["status"] == "completed" and cycle["steps"][0]["name"] == "winner_refresh"

    models = state["models"]
    (champion,) = models["champions"]
    assert champion["version"] == "alpha-v2" and champion["promoted_at"] is not None
    assert champion["metrics"] == {"log_loss": 0.2, "auc": 0.7}
    assert [v["version"] for v in models["versions"]] == ["alpha-v2", "alpha-v1"]
    assert models["decisions"][0]["action"] == "promoted"

    assert state["queue"]["pending_jobs"] == {"pending": 1, "running": 1, "failed": 0}


def test_snapshot_of_an_empty_tenant(db: Database) -> None:
    with db.session() as s:
        state = dashboard.snapshot(s, tenant_id="nobody", limits=LIMITS)
    assert state["experiments"] == [] and state["cycles"] == []
    assert state["winners"] == {"total": 0, "by_reason": {}, "recent": []}
    assert set(state["changes"]["counts"].values()) == {0}
    assert state["models"] == {"champions": [], "versions": [], "decisions": []}
    assert state["queue"]["pending_jobs"] == {"pending": 0, "running": 0, "failed": 0}
