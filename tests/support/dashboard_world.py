"""A tenant with something on every panel of the dashboard, made through the HTTP API (ads,
feedback, an experiment and its allocation, ad changes, a learning cycle) and core functions
where the API would take minutes (a trained CTR champion, an executor's verdict)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from core.db.engine import Database
from core.db.models import PendingAdChange, utcnow
from core.settings import Settings
from tests.support.ctr_models import register_ctr_model

HOOKS = ("Stop scrolling: 3 tips", "Before you buy, watch", "The 10-second fix")


@dataclass(frozen=True)
class World:
    tenant: str
    key: str
    experiment_id: str
    experiment_name: str
    ads: list[str]
    pending_change: int
    applied_change: int
    cycle_id: str
    model_version: str


def _ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def build(client: httpx.Client, settings: Settings, *, tenant: str, label: str) -> World:
    """Fill ``tenant``'s dashboard; ``label`` names its experiment (to find it on the page)."""
    launched = (datetime.now(UTC) - timedelta(hours=48)).isoformat()
    ads = [f"{label}-ad{i}" for i in range(3)]
    for ad, hook, clicks in zip(ads, HOOKS, (58, 70, 45), strict=True):
        creative = {"hook_text": hook, "cta": "Shop now", "template": "ugc"}
        _ok(
            client.post(
                "/api/ads", json={"ad_id": ad, "launched_at": launched, "creative": creative}
            )
        )
        # 2,000 impressions, 48 h live, ROAS < 3: CTR 2.9 %, 3.5 % (a winner), 2.25 %
        feedback = {"ad_id": ad, "impressions": 2000, "clicks": clicks, "spend": 40.0}
        _ok(client.post("/api/ml/feedback", json={**feedback, "revenue": float(clicks)}))
    name = f"{label} hooks test"
    exp = _ok(client.post("/api/ml/experiments", json={"ad_ids": ads, "name": name}), 201)
    path = f"/api/ml/experiments/{exp['experiment_id']}/allocate"
    _ok(client.post(path, json={"total_budget": 500.0}))

    changes = []
    for i, value in enumerate((5200, 6000)):
        body = {
            "kind": "budget",
            "idempotency_key": f"{label}-{uuid.uuid4().hex[:6]}-{i}",
            "account_id": "act_1",
            "campaign_id": "camp_1",
            "ad_set_id": f"{label}-adset{i}",
            "new_value": value,
            "reason": "scale the winner",
        }
        changes.append(_ok(client.post("/api/ads/changes", json=body), 202)["id"])
    _settle_changes(settings, pending=changes[0], applied=changes[1])

    cycle = _ok(client.post("/api/ml/self-learning-cycle", json={"wait_s": 60}))
    version = register_ctr_model(settings, tenant, rounds=5)
    key = client.headers["Authorization"].removeprefix("Bearer ")
    _wait_for_winner(client, ads[1])
    return World(
        tenant=tenant,
        key=key,
        experiment_id=exp["experiment_id"],
        experiment_name=name,
        ads=ads,
        pending_change=changes[0],
        applied_change=changes[1],
        cycle_id=cycle["cycle_id"],
        model_version=version,
    )


def _settle_changes(settings: Settings, *, pending: int, applied: int) -> None:
    """Keep one change pending (due in 2100, out of the executor's way) and record the other
    as applied, as the executor would after the platform said yes."""
    db = Database(settings.db_url)
    try:
        with db.session() as s:
            first = s.get(PendingAdChange, pending)
            first.earliest_execute_at = utcnow().replace(year=2100)
            second = s.get(PendingAdChange, applied)
            second.status, second.dry_run, second.decision = "applied", False, "allow"
            second.old_value, second.applied_value, second.applied_at = 5000, 6000, utcnow()
            second.earliest_execute_at = utcnow().replace(year=2100)
    finally:
        db.dispose()


def _wait_for_winner(client: httpx.Client, ad: str, timeout_s: float = 30.0) -> None:
    """The trigger queued the winner; the job consumer indexes it shortly after."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = _ok(client.get("/api/dashboard/state"))
        if any(w["ad_id"] == ad for w in state["winners"]["recent"]):
            return
        time.sleep(0.2)
    raise AssertionError(f"winner {ad} was never indexed")
