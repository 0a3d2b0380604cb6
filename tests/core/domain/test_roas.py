"""Blended ROAS score (SPEC §3.2)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from core.domain.roas import (
    Band,
    RoasConfig,
    confidence,
    ctr_weight,
    predict_roas,
)

CONFIG = RoasConfig.load()


def forecast(**kw):
    args = dict(current_ctr=0.02, current_roas=2.5, hours_live=30, daily_spend=100, days_forward=7)
    args.update(kw)
    return predict_roas(config=CONFIG, **args)


@pytest.mark.parametrize(
    ("hours", "weight"),
    [(0, 1.0), (6, 1.0), (6.01, 0.7), (24, 0.7), (24.5, 0.3), (72, 0.3), (72.1, 0.0), (1e6, 0.0)],
)
def test_bands_from_config(hours: float, weight: float) -> None:
    assert ctr_weight(hours, CONFIG) == weight


def test_blend_mixes_ctr_implied_and_observed_roas() -> None:
    implied = CONFIG.conversion_model.implied_roas(0.02)
    assert implied == pytest.approx(0.02 * 0.03 * 60 * 1000 / 12)
    f = forecast(hours_live=30)
    assert f.predicted_roas == pytest.approx(0.3 * implied + 0.7 * 2.5)
    assert forecast(hours_live=2).predicted_roas == pytest.approx(implied)
    assert forecast(hours_live=100).predicted_roas == pytest.approx(2.5)


def test_projection() -> None:
    f = forecast(hours_live=100, current_roas=3.0, daily_spend=50, days_forward=10)
    assert f.projected_spend == 500
    assert f.projected_revenue == pytest.approx(1500)
    assert f.projected_profit == pytest.approx(1000)
    assert f.days_forward == 10


@pytest.mark.parametrize(
    ("hours", "level"), [(0, "low"), (5.9, "low"), (6, "medium"), (72, "medium"), (72.5, "high")]
)
def test_confidence(hours: float, level: str) -> None:
    assert confidence(hours, CONFIG) == level


def test_smooth_mode_interpolates_between_knots() -> None:
    cfg = replace(CONFIG, mode="smooth", smooth_knots=((0, 1.0), (24, 0.5), (72, 0.0)))
    assert ctr_weight(12, cfg) == pytest.approx(0.75)
    assert ctr_weight(48, cfg) == pytest.approx(0.25)
    assert ctr_weight(500, cfg) == 0.0
    weights = [ctr_weight(h, cfg) for h in range(0, 100)]
    assert all(a >= b for a, b in zip(weights, weights[1:], strict=False))


def test_implied_roas_is_capped() -> None:
    assert replace(CONFIG.conversion_model, max_roas=5.0).implied_roas(1.0) == 5.0


def test_config_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "roas.yaml"
    path.write_text(
        "blend:\n  mode: smooth\n  smooth_knots: [[0, 1.0], [10, 0.0]]\n"
        "  bands: [{up_to_hours: null, ctr_weight: 0.0}]\n"
        "conversion_model: {conversion_rate: 0.1, average_order_value: 10, cpm: 10,"
        " max_roas: 20}\n"
        "confidence: {high_after_hours: 48, low_below_hours: 2}\n"
    )
    cfg = RoasConfig.load(path)
    assert cfg.mode == "smooth" and ctr_weight(5, cfg) == pytest.approx(0.5)
    assert cfg.conversion_model.implied_roas(0.01) == pytest.approx(1.0)
    assert confidence(50, cfg) == "high" and confidence(1, cfg) == "low"


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"current_ctr": -0.1}, "current_ctr"),
        ({"current_ctr": 1.5}, "current_ctr"),
        ({"current_roas": -1}, "current_roas"),
        ({"hours_live": -1}, "hours_live"),
        ({"daily_spend": -5}, "daily_spend"),
        ({"days_forward": 0}, "days_forward"),
        ({"days_forward": 91}, "days_forward"),
        ({"current_roas": math.nan}, "current_roas"),
    ],
)
def test_invalid_inputs(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        forecast(**kw)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"mode": "cubic"}, "mode"),
        ({"bands": (Band(10, 1.0), Band(5, 0.5), Band(None, 0.0))}, "increase"),
        ({"bands": (Band(10, 1.0),)}, "last band"),
        ({"bands": (Band(10, 1.5), Band(None, 0.0))}, "ctr_weight"),
        ({"smooth_knots": ((0, 1.0), (0, 0.5))}, "increase"),
    ],
)
def test_invalid_config(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        replace(CONFIG, **kw)
