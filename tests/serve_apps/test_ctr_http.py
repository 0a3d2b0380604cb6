"""POST /api/ml/predict/ctr: champion serving, a promotion and a rollback under continuous
load (zero failed requests, answers switch version), the prediction log; training routes."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter

import httpx
import pytest

from core.db.engine import Database
from core.db.prediction_log import recent
from core.ml import registry
from core.settings import Settings
from tests.support.ctr_models import register_ctr_model

CREATIVE = {
    "ad_id": "ad-1",
    "video_features": [0.5, -0.2, 0.1],
    "hook_text": "Why 3 tips?",
    "cta": "Shop now",
    "template": "ugc",
}


def _wait_version(client: httpx.Client, version: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = client.post("/api/ml/predict/ctr", json={"creatives": [CREATIVE]})
        if r.status_code == 200 and r.json()["model_version"] == version:
            return
        time.sleep(0.1)
    raise AssertionError(f"serving never switched to {version}")


def test_no_champion_is_a_clear_503(tenant_client) -> None:
    r = tenant_client().post("/api/ml/predict/ctr", json={"creatives": [CREATIVE]})
    assert r.status_code == 503
    assert r.json()["error"] == "no CTR model trained yet"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"creatives": []},
        {"creatives": [{"video_features": ["x"]}]},
        {"creatives": [{"colour": "red"}]},
    ],
)
def test_bad_bodies_are_422(client: httpx.Client, body: dict) -> None:
    r = client.post("/api/ml/predict/ctr", json=body)
    assert r.status_code == 422 and "error" in r.json()


def test_promotion_and_rollback_under_continuous_load(
    tenant_client, app_settings: Settings
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    client = tenant_client(tenant)
    first = register_ctr_model(app_settings, tenant, rounds=5)
    r = client.post(
        "/api/ml/predict/ctr",
        json={"creatives": [CREATIVE, {**CREATIVE, "ad_id": "ad-2", "template": "demo"}]},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == first and len(body["predictions"]) == 2
    assert 0 < body["predictions"][0]["predicted_ctr"] < 1

    seen: Counter[str] = Counter()
    failures: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=str(client.base_url), headers=client.headers, timeout=30) as c:
            while not stop.is_set():
                try:
                    resp = c.post("/api/ml/predict/ctr", json={"creatives": [CREATIVE]})
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if resp.status_code != 200:
                    failures.append(f"{resp.status_code} {resp.text[:200]}")
                else:
                    seen[resp.json()["model_version"]] += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        second = register_ctr_model(app_settings, tenant, rounds=40)
        _wait_version(client, second)
        db = Database(app_settings.db_url)
        try:
            assert registry.rollback(db, tenant_id=tenant, kind="ctr", reason="test") == (
                second,
                first,
            )
        finally:
            db.dispose()
        _wait_version(client, first)  # serving follows the rollback
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    assert seen[first] > 0 and seen[second] > 0


def test_concurrent_requests_each_get_their_own_creatives_scores(
    tenant_client, app_settings: Settings
) -> None:
    """The gateway groups concurrent requests into one CtrModel call and the model scores
    them in one batch: every answer must still be its own creatives', in its order, as when
    the request is sent alone."""
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    client = tenant_client(tenant)
    version = register_ctr_model(app_settings, tenant, rounds=20)
    _wait_version(client, version)
    bodies = [
        {
            "creatives": [
                {
                    **CREATIVE,
                    "ad_id": f"ad-{i}-{j}",
                    "video_features": [((i * 7 + j) % 11) / 10, -0.5 + i / 40, 0.3],
                    "template": ("ugc", "demo", "studio")[(i + j) % 3],
                }
                for j in range(1 + i % 3)
            ]
        }
        for i in range(40)
    ]
    alone = [client.post("/api/ml/predict/ctr", json=b).json()["predictions"] for b in bodies]
    assert len({p[0]["predicted_ctr"] for p in alone}) > 5  # the creatives score differently

    async def together() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=str(client.base_url), headers=client.headers, timeout=30
        ) as c:
            return await asyncio.gather(*(c.post("/api/ml/predict/ctr", json=b) for b in bodies))

    answers = asyncio.run(together())
    assert [r.status_code for r in answers] == [200] * len(bodies)
    assert [r.json()["predictions"] for r in answers] == alone


def test_served_predictions_are_logged(client: httpx.Client, app_settings: Settings) -> None:
    version = register_ctr_model(app_settings, app_settings.tenant_id, rounds=8)
    _wait_version(client, version)
    db = Database(app_settings.db_url)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            rows = [
                r
                for r in recent(db, app_settings.tenant_id, "ctr")
                if r["model_version"] == version
            ]
            if rows:
                break
            time.sleep(0.2)
        assert rows and rows[0]["ad_id"] == "ad-1" and "predicted_ctr" in rows[0]["output"]
    finally:
        db.dispose()


def test_unknown_training_job_is_404(client: httpx.Client) -> None:
    r = client.get("/api/ml/train/train-doesnotexist")
    assert r.status_code == 404 and r.json()["error"] == "training job not found"


@pytest.mark.heavy
def test_train_over_http_runs_tune_and_decides(tenant_client) -> None:
    client = tenant_client()
    r = client.post(
        "/api/ml/train/ctr",
        json={"source": "synthetic", "synthetic_rows": 600, "num_samples": 2, "max_rounds": 20},
    )
    assert r.status_code == 202, r.text
    job = r.json()["job_id"]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        status = client.get(f"/api/ml/train/{job}").json()
        if status["status"] in ("succeeded", "failed"):
            break
        time.sleep(1)
    assert status["status"] == "succeeded", status
    assert len(status["trials"]) == 2 and all(t["device"] == "cpu" for t in status["trials"])
    assert status["decision"]["action"] == "promoted"
    served = client.post("/api/ml/predict/ctr", json={"creatives": [CREATIVE]})
    assert served.status_code == 200
