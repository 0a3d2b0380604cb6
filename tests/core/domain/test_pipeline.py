"""Pipeline stage tables (SPEC §3.3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.domain.pipeline import (
    Deal,
    PipelineCatalog,
    UnknownPipelineError,
    UnknownStageError,
    value_pipeline,
)

CATALOG = PipelineCatalog.load()


def test_hubspot_default_stage_table() -> None:
    hub = CATALOG.get()
    assert hub.name == "hubspot_default"
    probs = {s.name: s.probability for s in hub.stages}
    assert probs == {
        "appointmentscheduled": 0.2,
        "qualifiedtobuy": 0.4,
        "presentationscheduled": 0.6,
        "decisionmakerboughtin": 0.8,
        "contractsent": 0.9,
        "closedwon": 1.0,
        "closedlost": 0.0,
    }


def test_values_deals_by_stage() -> None:
    deals = [
        Deal("d1", "contractsent", 1000),
        Deal("d2", "QualifiedToBuy ", 500),
        Deal("d3", "closedlost", 80),
    ]
    result = value_pipeline(deals, CATALOG.get())
    d1, d2, d3 = result.deals
    assert (d1.expected_value, d1.probability, d1.predicted_close_days) == (900, 0.9, 7)
    assert d2.stage == "qualifiedtobuy" and d2.expected_value == 200
    assert d3.expected_value == 0
    assert d1.synthetic_value == 4500  # 0.9 * average deal value, not the amount
    assert result.total_pipeline_value == 1100
    assert result.deal_count == 3
    assert result.avg_probability == pytest.approx((0.9 + 0.4 + 0.0) / 3)


def test_service_business_template_derives_synthetic_value() -> None:
    svc = CATALOG.get("service_business")
    assert [s.name for s in svc.stages] == [
        "lead",
        "appointment_scheduled",
        "show_up",
        "closed_won",
        "closed_lost",
    ]
    show = svc.stage("show_up")
    assert show is not None and show.synthetic_value == pytest.approx(0.85 * 1500)
    result = value_pipeline([Deal("x", "lead", 2000)], svc)
    assert result.deals[0].expected_value == pytest.approx(200)


def test_unknown_stage_names_it_and_the_known_ones() -> None:
    with pytest.raises(UnknownStageError) as err:
        value_pipeline([Deal("a", "closedwon", 1), Deal("b", "negotiation", 1)], CATALOG.get())
    assert err.value.stages == ["negotiation"]
    assert "closedwon" in err.value.known and "'negotiation'" in str(err.value)


def test_unknown_pipeline_lists_known() -> None:
    with pytest.raises(UnknownPipelineError, match="hubspot_default, service_business"):
        CATALOG.get("nope")


def test_tenant_templates_are_visible_to_that_tenant_only(tmp_path: Path) -> None:
    path = tmp_path / "pipelines.yaml"
    path.write_text(
        "default: base\n"
        "pipelines:\n  base: {average_deal_value: 0, sales_cycle_days: 0,\n"
        "         stages: {won: {probability: 1.0, days_to_close: 0}}}\n"
        "tenants:\n  acme:\n    default: mine\n    pipelines:\n"
        "      mine: {average_deal_value: 100, sales_cycle_days: 3,\n"
        "             stages: {call: {probability: 0.5, days_to_close: 3}}}\n"
    )
    cat = PipelineCatalog.load(path)
    assert cat.get(tenant_id="acme").name == "mine"
    assert cat.get(tenant_id="other").name == "base"
    assert cat.names("acme") == ["base", "mine"]
    with pytest.raises(UnknownPipelineError):
        cat.get("mine", tenant_id="other")


@pytest.mark.parametrize(
    ("deals", "match"),
    [
        ([], "empty"),
        ([Deal("a", "closedwon", -1)], "amount"),
        ([Deal("a", "closedwon", float("inf"))], "amount"),
    ],
)
def test_invalid_deals(deals: list[Deal], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        value_pipeline(deals, CATALOG.get())


def test_invalid_stage_table() -> None:
    with pytest.raises(ValueError, match="probability"):
        PipelineCatalog.from_dict(
            {
                "default": "p",
                "tenants": {},
                "pipelines": {
                    "p": {
                        "average_deal_value": 1,
                        "sales_cycle_days": 1,
                        "stages": {"s": {"probability": 2, "days_to_close": 1}},
                    }
                },
            }
        )
    with pytest.raises(ValueError, match="default pipeline"):
        PipelineCatalog.from_dict({"default": "missing", "pipelines": {}, "tenants": {}})
