"""Blended ROAS prediction (SPEC §3.2).

Early on an ad's CTR is the only trustworthy signal; later its observed ROAS dominates::

    predicted_roas = w * ctr_implied_roas(ctr) + (1 - w) * observed_roas

where ``w`` (the CTR weight) falls with hours live, as bands or a smooth curve, and the
CTR-implied ROAS comes from a conversion model. All numbers live in ``configs/roas.yaml``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from core.config import ConfigError, ConfigModel, config_path, load_config

Confidence = Literal["low", "medium", "high"]
BlendMode = Literal["bands", "smooth"]


class ConversionModel(Protocol):
    """Maps a CTR to the ROAS it implies (configured now, learned later)."""

    def implied_roas(self, ctr: float) -> float: ...


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True)
class FunnelModel:
    """CTR -> ROAS through a purchase funnel under CPM pricing.

    ``roas = ctr * conversion_rate * average_order_value * 1000 / cpm``, capped at ``max_roas``.
    """

    conversion_rate: float
    average_order_value: float
    cpm: float
    max_roas: float

    def __post_init__(self) -> None:
        _require(0 <= self.conversion_rate <= 1, "conversion_rate must be in [0, 1]")
        _require(self.average_order_value >= 0, "average_order_value must be >= 0")
        _require(self.cpm > 0, "cpm must be > 0")
        _require(self.max_roas >= 0, "max_roas must be >= 0")

    def implied_roas(self, ctr: float) -> float:
        roas = ctr * self.conversion_rate * self.average_order_value * 1000.0 / self.cpm
        return min(roas, self.max_roas)


@dataclass(frozen=True)
class Band:
    """CTR weight for ``hours_live <= up_to_hours`` (``None``: no upper bound)."""

    up_to_hours: float | None
    ctr_weight: float


@dataclass(frozen=True)
class RoasConfig:
    """All of ``configs/roas.yaml``; validates itself."""

    mode: BlendMode
    bands: tuple[Band, ...]
    smooth_knots: tuple[tuple[float, float], ...]
    conversion_model: FunnelModel
    high_after_hours: float
    low_below_hours: float

    def __post_init__(self) -> None:
        _require(
            self.mode in ("bands", "smooth"),
            f"blend mode must be bands or smooth, not {self.mode!r}",
        )
        _require(len(self.bands) >= 1, "bands must not be empty")
        _require(self.bands[-1].up_to_hours is None, "the last band must have up_to_hours: null")
        bounds = [b.up_to_hours for b in self.bands[:-1]]
        _require(None not in bounds, "only the last band may have up_to_hours: null")
        _require(
            all(a < b for a, b in zip(bounds, bounds[1:], strict=False)),
            "band bounds must increase",
        )
        _require(
            all(0 <= b.ctr_weight <= 1 for b in self.bands), "band ctr_weight must be in [0, 1]"
        )
        hours = [h for h, _ in self.smooth_knots]
        _require(len(hours) >= 1, "smooth_knots must not be empty")
        _require(
            all(a < b for a, b in zip(hours, hours[1:], strict=False)), "knot hours must increase"
        )
        _require(
            all(0 <= w <= 1 for _, w in self.smooth_knots), "knot ctr_weight must be in [0, 1]"
        )
        _require(
            self.low_below_hours <= self.high_after_hours, "low_below_hours > high_after_hours"
        )

    @cached_property
    def version(self) -> str:
        """Names this configuration in the prediction log (``rules-<hash>``; computed once:
        it is read on every served prediction)."""
        return "rules-" + hashlib.sha256(repr(self).encode()).hexdigest()[:12]

    @classmethod
    def from_file(cls, f: RoasFile) -> RoasConfig:
        return cls(
            mode=f.blend.mode,
            bands=tuple(Band(b.up_to_hours, b.ctr_weight) for b in f.blend.bands),
            smooth_knots=tuple((h, w) for h, w in f.blend.smooth_knots),
            conversion_model=FunnelModel(**f.conversion_model.model_dump()),
            high_after_hours=f.confidence.high_after_hours,
            low_below_hours=f.confidence.low_below_hours,
        )

    @classmethod
    def load(cls, path: Path | None = None) -> RoasConfig:
        """``configs/roas.yaml`` through the config loader."""
        try:
            return cls.from_file(load_config("roas.yaml", RoasFile, path=path))
        except ValueError as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"{path or config_path('roas.yaml')}: {exc}") from None


class _BandIn(ConfigModel):
    up_to_hours: float | None
    ctr_weight: float


class _BlendIn(ConfigModel):
    mode: BlendMode
    bands: list[_BandIn]
    smooth_knots: list[tuple[float, float]]


class _FunnelIn(ConfigModel):
    conversion_rate: float
    average_order_value: float
    cpm: float
    max_roas: float


class _ConfidenceIn(ConfigModel):
    high_after_hours: float
    low_below_hours: float


class RoasFile(ConfigModel):
    """The shape of ``configs/roas.yaml`` (checked by :class:`RoasConfig` on top)."""

    blend: _BlendIn
    conversion_model: _FunnelIn
    confidence: _ConfidenceIn


@dataclass(frozen=True)
class RoasForecast:
    """A blended ROAS prediction and its projection over ``days_forward`` days."""

    predicted_roas: float
    projected_spend: float
    projected_revenue: float
    projected_profit: float
    days_forward: int
    confidence: Confidence
    ctr_weight: float


def ctr_weight(hours_live: float, config: RoasConfig) -> float:
    """Weight of the CTR signal at ``hours_live`` (the observed ROAS gets ``1 - weight``)."""
    if config.mode == "smooth":
        hours, weights = zip(*config.smooth_knots, strict=True)
        return float(np.interp(hours_live, hours, weights))
    for band in config.bands:
        if band.up_to_hours is None or hours_live <= band.up_to_hours:
            return band.ctr_weight
    raise AssertionError("unreachable: the last band is unbounded")


def confidence(hours_live: float, config: RoasConfig) -> Confidence:
    """``high`` past ``high_after_hours``, ``low`` under ``low_below_hours``, else ``medium``."""
    if hours_live > config.high_after_hours:
        return "high"
    if hours_live < config.low_below_hours:
        return "low"
    return "medium"


def predict_roas(
    *,
    current_ctr: float,
    current_roas: float,
    hours_live: float,
    daily_spend: float,
    days_forward: int,
    config: RoasConfig,
    model: ConversionModel | None = None,
) -> RoasForecast:
    """Blend CTR-implied and observed ROAS by hours live; project spend, revenue, profit."""
    values = {
        "current_ctr": current_ctr,
        "current_roas": current_roas,
        "hours_live": hours_live,
        "daily_spend": daily_spend,
    }
    for name, value in values.items():
        _require(math.isfinite(value), f"{name} must be finite")
    _require(0 <= current_ctr <= 1, "current_ctr must be in [0, 1]")
    _require(current_roas >= 0, "current_roas must be >= 0")
    _require(hours_live >= 0, "hours_live must be >= 0")
    _require(daily_spend >= 0, "daily_spend must be >= 0")
    _require(1 <= days_forward <= 90, "days_forward must be in [1, 90]")

    model = model or config.conversion_model
    w = ctr_weight(hours_live, config)
    roas = w * model.implied_roas(current_ctr) + (1.0 - w) * current_roas
    spend = daily_spend * days_forward
    revenue = spend * roas
    return RoasForecast(
        predicted_roas=roas,
        projected_spend=spend,
        projected_revenue=revenue,
        projected_profit=revenue - spend,
        days_forward=days_forward,
        confidence=confidence(hours_live, config),
        ctr_weight=w,
    )
