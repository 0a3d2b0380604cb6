"""POST /api/ml/predict/roas and /api/ml/predict/pipeline through HTTP on the running app."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from core.domain.roas import RoasConfig
from core.settings import Settings

ROAS = {
    "ad_id": "ad-1",
    "current_ctr": 0.02,
    "current_roas": 2.5,
    "hours_live": 30,
    "daily_spend": 100,
}
CFG = RoasConfig.load()


def test_roas_blend_and_projection(client: httpx.Client) -> None:
    r = client.post("/api/ml/predict/roas", json=ROAS)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {
        "ad_id",
        "predicted_roas",
        "projected_spend",
        "projected_revenue",
        "projected_profit",
        "days_forward",
        "confidence",
    }
    implied = CFG.conversion_model.implied_roas(0.02)
    roas = 0.3 * implied + 0.7 * 2.5
    # SPEC §2: ROAS to 2 decimals, money to cents (computed from the unrounded ROAS).
    assert body["predicted_roas"] == round(roas, 2)
    assert body["days_forward"] == 7 and body["projected_spend"] == 700
    assert body["projected_revenue"] == round(700 * roas, 2)
    assert body["projected_profit"] == round(700 * roas - 700, 2)
    assert body["confidence"] == "medium" and body["ad_id"] == "ad-1"


@pytest.mark.parametrize(
    ("hours", "roas_weight", "confidence"),
    [(3, 0.0, "low"), (12, 0.3, "medium"), (48, 0.7, "medium"), (100, 1.0, "high")],
)
def test_roas_bands(
    client: httpx.Client, hours: float, roas_weight: float, confidence: str
) -> None:
    r = client.post("/api/ml/predict/roas", json={**ROAS, "hours_live": hours, "days_forward": 30})
    body = r.json()
    implied = CFG.conversion_model.implied_roas(0.02)
    expected = (1 - roas_weight) * implied + roas_weight * 2.5
    assert body["predicted_roas"] == round(expected, 2)
    assert body["confidence"] == confidence and body["projected_spend"] == pytest.approx(3000)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"current_ctr": -0.01}, "current_ctr"),
        ({"current_ctr": 1.01}, "current_ctr"),
        ({"current_roas": -0.5}, "current_roas"),
        ({"hours_live": -1}, "hours_live"),
        ({"daily_spend": -10}, "daily_spend"),
        ({"days_forward": 0}, "days_forward"),
        ({"days_forward": 91}, "days_forward"),
        ({"days_forward": 2.5}, "days_forward"),
        ({"current_ctr": "high"}, "current_ctr"),
        ({"ad_id": ""}, "ad_id"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_roas_validation(client: httpx.Client, change: dict, field: str) -> None:
    r = client.post("/api/ml/predict/roas", json={**ROAS, **change})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"].startswith("validation failed")
    assert any(field in d["loc"] for d in body["details"])


def test_roas_missing_fields(client: httpx.Client) -> None:
    r = client.post("/api/ml/predict/roas", json={"ad_id": "x"})
    assert r.status_code == 422
    missing = {d["loc"][-1] for d in r.json()["details"]}
    assert missing == {"current_ctr", "current_roas", "hours_live", "daily_spend"}


DEALS = [
    {"id": "d1", "stage": "contractsent", "amount": 1000},
    {"id": 42, "stage": "appointmentscheduled", "amount": 500},
    {"id": "d3", "stage": "closedlost", "amount": 300},
]


def test_pipeline_hubspot_default(client: httpx.Client) -> None:
    r = client.post("/api/ml/predict/pipeline", json={"deals": DEALS})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"deals", "total_pipeline_value", "deal_count", "avg_probability"}
    d1, d2, d3 = body["deals"]
    assert set(d1) == {
        "deal_id",
        "stage",
        "amount",
        "expected_value",
        "probability",
        "predicted_close_days",
        "synthetic_value",
    }
    assert (d1["deal_id"], d1["probability"], d1["expected_value"]) == ("d1", 0.9, 900)
    assert (d2["deal_id"], d2["expected_value"]) == ("42", 100)
    assert d3["expected_value"] == 0 and d3["probability"] == 0
    assert body["total_pipeline_value"] == pytest.approx(1000)
    assert body["deal_count"] == 3
    assert body["avg_probability"] == round((0.9 + 0.2 + 0.0) / 3, 4)


def test_pipeline_named_template(client: httpx.Client) -> None:
    deals = [
        {"id": "a", "stage": "show_up", "amount": 2000},
        {"id": "b", "stage": "Lead", "amount": 0},
    ]
    r = client.post(
        "/api/ml/predict/pipeline", json={"deals": deals, "pipeline": "service_business"}
    )
    assert r.status_code == 200, r.text
    a, b = r.json()["deals"]
    assert a["expected_value"] == pytest.approx(1700) and a["synthetic_value"] == pytest.approx(
        1275
    )
    assert b["stage"] == "lead" and b["probability"] == pytest.approx(0.1)


def test_pipeline_unknown_stage_names_it_and_the_known_ones(client: httpx.Client) -> None:
    deals = [*DEALS, {"id": "x", "stage": "negotiation", "amount": 10}]
    r = client.post("/api/ml/predict/pipeline", json={"deals": deals})
    assert r.status_code == 422
    body = r.json()
    assert "'negotiation'" in body["error"] and "contractsent" in body["error"]
    assert body["details"]["stages"] == ["negotiation"]
    assert body["details"]["known_stages"] == [
        "appointmentscheduled",
        "qualifiedtobuy",
        "presentationscheduled",
        "decisionmakerboughtin",
        "contractsent",
        "closedwon",
        "closedlost",
    ]
    # a stage of another template is unknown in the default one
    r = client.post(
        "/api/ml/predict/pipeline", json={"deals": [{"id": 1, "stage": "show_up", "amount": 1}]}
    )
    assert r.status_code == 422 and r.json()["details"]["stages"] == ["show_up"]


def test_pipeline_unknown_template(client: httpx.Client) -> None:
    r = client.post("/api/ml/predict/pipeline", json={"deals": DEALS, "pipeline": "nope"})
    assert r.status_code == 422
    assert r.json()["details"]["known_pipelines"] == ["hubspot_default", "service_business"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"deals": []}, "deals"),
        ({}, "deals"),
        ({"deals": [{"id": "a", "stage": "closedwon", "amount": -1}]}, "amount"),
        ({"deals": [{"id": "a", "stage": "closedwon"}]}, "amount"),
        ({"deals": [{"stage": "closedwon", "amount": 1}]}, "id"),
        ({"deals": [{"id": "a", "amount": 1}]}, "stage"),
        ({"deals": [{"id": "a", "stage": "", "amount": 1}]}, "stage"),
        ({"deals": [{"id": "", "stage": "closedwon", "amount": 1}]}, "id"),
        ({"deals": "closedwon"}, "deals"),
    ],
)
def test_pipeline_validation(client: httpx.Client, payload: dict, field: str) -> None:
    r = client.post("/api/ml/predict/pipeline", json=payload)
    assert r.status_code == 422, r.text
    assert any(field in d["loc"] for d in r.json()["details"])


def test_served_roas_predictions_are_logged(
    client: httpx.Client, app_settings: Settings, gateway_url: str
) -> None:
    """Every answer lands in prediction_log (behind the response) with its model version."""
    from core.db.engine import Database
    from core.db.prediction_log import recent

    ad = f"logged-{uuid.uuid4().hex[:8]}"
    answers = [
        client.post("/api/ml/predict/roas", json={**ROAS, "ad_id": ad, "hours_live": h}).json()
        for h in (1, 30, 100)
    ]
    db = Database(app_settings.db_url)
    try:
        deadline = time.monotonic() + 30
        while True:
            rows = [r for r in recent(db, app_settings.tenant_id, "roas", 500) if r["ad_id"] == ad]
            if len(rows) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        db.dispose()
    assert len(rows) == 3
    logged = sorted(rows, key=lambda r: r["inputs"]["hours_live"])
    for row, answer in zip(logged, answers, strict=True):
        assert row["output"]["predicted_roas"] == answer["predicted_roas"]
        assert row["model_version"] == CFG.version and row["kind"] == "roas"
        assert row["inputs"]["current_ctr"] == ROAS["current_ctr"]
    metrics = httpx.get(f"{gateway_url}/metrics", timeout=10).text
    assert "adcluster_prediction_log_dropped_total" in metrics
    assert "adcluster_prediction_log_written_total" in metrics
