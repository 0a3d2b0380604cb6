"""The market simulator: the embedded default ad platform (same interface as Meta).

Each ad has hidden true rates derived from its creative's features, so a learner can find
the good creatives; delivery follows the ad set's budget with diminishing returns, a daily
cycle, creative fatigue and sampling noise. Time is simulated and only moves when
:meth:`MarketSimulator.advance` is called. Same seed, same calls: same numbers.

Model (``c`` = :class:`SimulatorConfig`; ``z_k = x_k - 0.5`` for creative feature ``x_k``
in about 0..1; ``w, u, v, e`` hidden, drawn from the seed per feature name / CTA / ad):

- ``logit ctr = logit c.base_ctr + Σ w_k z_k + e_cta + e_ad``
- ``logit cvr = logit c.base_cvr + Σ u_k z_k``;  ``aov = c.base_order_value · exp(Σ v_k z_k)``
- daily impressions of an ad set at budget ``B`` (major units):
  ``I(B) = S (1 - exp(-1000 B / (cpm · S)))`` with ``S = c.saturation_impressions``
  (concave: the slope at 0 is ``1000 / cpm``, the cost per impression grows with ``B``);
  the ad set spends its budget, spread over its active ads.
- hour ``h``: delivery weight ``1 + a cos(2π (h - peak) / 24)`` (mean 1 over a day).
- fatigue: ``ctr_now = ctr (f + (1 - f) exp(-n / F))`` after ``n`` impressions of the ad.
- noise: impressions ~ Poisson, clicks ~ Binomial(impressions, ctr_now), purchases ~
  Binomial(clicks, cvr), each order ~ LogNormal(log aov - σ²/2, σ).

Insights come out as Graph API rows (:func:`core.platforms.base.parse_insight` reads both).
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from core.platforms.base import (
    AdPlatform,
    AdSpec,
    ApplyResult,
    BudgetChange,
    InsightRow,
    NotFoundError,
    ObjectState,
    PermanentError,
    PublishResult,
    StatusChange,
    parse_insight,
)
from core.platforms.config import PlatformsConfig, SimulatorConfig


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


@dataclass(frozen=True)
class TrueRates:
    """An ad's hidden truth (before fatigue): CTR, purchases per click, mean order value."""

    ctr: float
    cvr: float
    order_value: float

    @property
    def revenue_per_impression(self) -> float:
        return self.ctr * self.cvr * self.order_value


@dataclass
class _AdSet:
    campaign_id: str
    daily_budget_minor: int
    status: str
    name: str


@dataclass
class _Ad:
    adset_id: str
    status: str
    name: str
    truth: TrueRates
    creative_id: str
    video_id: str
    impressions_total: int = 0
    daily: dict[date, list[float]] = field(default_factory=dict)  # [impr, clicks, spend, n, value]


class MarketSimulator(AdPlatform):
    """One tenant's simulated market. Ids look like ``sim-as-3``; money as on Meta."""

    name = "simulator"

    def __init__(self, config: SimulatorConfig, *, seed: int | None = None) -> None:
        self.config = config
        self.seed = config.seed if seed is None else seed
        self._rng = np.random.default_rng([self.seed, 0])
        self._now = datetime.fromisoformat(config.start)
        if self._now.utcoffset() is None:
            raise ValueError("simulator.start must carry a UTC offset")
        self._campaigns: dict[str, str] = {}  # id -> status
        self._adsets: dict[str, _AdSet] = {}
        self._ads: dict[str, _Ad] = {}
        self._published: dict[str, PublishResult] = {}
        self._counter = 0

    @classmethod
    def from_config(cls, seed: int | None = None) -> MarketSimulator:
        return cls(PlatformsConfig.load().simulator, seed=seed)

    # --- hidden truth -----------------------------------------------------------------
    def _effect(self, kind: str, name: str, sd: float) -> float:
        """A hidden effect, fixed per (seed, kind, name) whatever the order of calls."""
        key = zlib.crc32(f"{kind}:{name}".encode())
        return float(np.random.default_rng([self.seed, 1, key]).normal(0.0, sd))

    def feature_weights(self, names: Sequence[str]) -> dict[str, tuple[float, float, float]]:
        """Oracle: (ctr, cvr, log order value) weight of each feature name."""
        c = self.config
        return {
            n: (
                self._effect("ctr", n, c.feature_effect_sd),
                self._effect("cvr", n, c.feature_effect_sd),
                self._effect("aov", n, c.order_value_effect_sd),
            )
            for n in names
        }

    def true_rates(
        self,
        features: Mapping[str, float],
        call_to_action: str = "LEARN_MORE",
        ad_effect: float = 0.0,
    ) -> TrueRates:
        """The hidden rates of a creative with these features (``ad_effect``: the ad's own)."""
        c = self.config
        ctr_x = _logit(c.base_ctr) + self._effect("cta", call_to_action, c.cta_effect_sd)
        cvr_x, aov_x = _logit(c.base_cvr), 0.0
        for name, (w, u, v) in self.feature_weights(sorted(features)).items():
            z = float(features[name]) - 0.5
            ctr_x, cvr_x, aov_x = ctr_x + w * z, cvr_x + u * z, aov_x + v * z
        return TrueRates(
            ctr=_sigmoid(ctr_x + ad_effect),
            cvr=_sigmoid(cvr_x),
            order_value=c.base_order_value * math.exp(aov_x),
        )

    def oracle(self, ad_id: str) -> TrueRates:
        """Oracle: an ad's true rates (benchmarks and tests only; no learner may call it)."""
        return self._ad(ad_id).truth

    def expected_daily_impressions(self, daily_budget_minor: int) -> float:
        """``I(B)`` of an ad set with this daily budget (before seasonality and noise)."""
        c = self.config
        b = daily_budget_minor / c.minor_per_major
        s = c.saturation_impressions
        return s * (1 - math.exp(-1000 * b / (c.cpm * s)))

    # --- objects ----------------------------------------------------------------------
    def _next_id(self, prefix: str) -> str:
        self._counter += 1
        return f"sim-{prefix}-{self._counter}"

    def create_campaign(self, name: str = "campaign", status: str = "ACTIVE") -> str:
        cid = self._next_id("c")
        self._campaigns[cid] = status
        return cid

    def create_adset(
        self, campaign_id: str, daily_budget_minor: int, *, status: str = "ACTIVE", name="adset"
    ) -> str:
        if campaign_id not in self._campaigns:
            raise NotFoundError(f"no campaign {campaign_id}")
        BudgetChange("new", daily_budget_minor, "new")  # validates the budget
        aid = self._next_id("as")
        self._adsets[aid] = _AdSet(campaign_id, daily_budget_minor, status, name)
        return aid

    def _ad(self, ad_id: str) -> _Ad:
        try:
            return self._ads[ad_id]
        except KeyError:
            raise NotFoundError(f"no ad {ad_id}") from None

    # --- AdPlatform -------------------------------------------------------------------
    def set_budget(self, change: BudgetChange) -> ApplyResult:
        adset = self._adsets.get(change.object_id)
        if adset is None:
            raise NotFoundError(f"no ad set {change.object_id}")
        adset.daily_budget_minor = change.daily_budget_minor
        return ApplyResult(
            change.object_id,
            "daily_budget",
            change.daily_budget_minor,
            change.idempotency_key,
            {"success": True},
        )

    def set_status(self, change: StatusChange) -> ApplyResult:
        obj: Any = self._adsets.get(change.object_id) or self._ads.get(change.object_id)
        if obj is None:
            raise NotFoundError(f"no ad or ad set {change.object_id}")
        obj.status = change.status
        return ApplyResult(
            change.object_id, "status", change.status, change.idempotency_key, {"success": True}
        )

    def create_ad(self, spec: AdSpec) -> PublishResult:
        done = self._published.get(spec.idempotency_key)
        if done is not None:
            return PublishResult(done.ad_id, done.creative_id, done.video_id, done.status, False)
        if spec.adset_id not in self._adsets:
            raise NotFoundError(f"no ad set {spec.adset_id}")
        bad = [k for k, v in spec.features.items() if not math.isfinite(float(v))]
        if bad:
            raise PermanentError(f"features must be finite numbers: {', '.join(bad)}")
        video_id, creative_id, ad_id = (self._next_id(p) for p in ("video", "cr", "ad"))
        own = self._effect("ad", ad_id, self.config.ad_effect_sd)
        truth = self.true_rates(spec.features, spec.call_to_action, own)
        self._ads[ad_id] = _Ad(spec.adset_id, spec.status, spec.name, truth, creative_id, video_id)
        result = PublishResult(ad_id, creative_id, video_id, spec.status, True)
        self._published[spec.idempotency_key] = result
        return result

    def read_state(self, object_id: str) -> ObjectState:
        if object_id in self._adsets:
            a = self._adsets[object_id]
            return ObjectState(object_id, "adset", a.status, a.daily_budget_minor, a.name)
        if object_id in self._ads:
            ad = self._ads[object_id]
            return ObjectState(object_id, "ad", ad.status, None, ad.name)
        if object_id in self._campaigns:
            return ObjectState(object_id, "campaign", self._campaigns[object_id])
        raise NotFoundError(f"no object {object_id}")

    def insights(self, ad_ids: Sequence[str], since: date, until: date) -> list[InsightRow]:
        return [parse_insight(r) for r in self.insights_rows(ad_ids, since, until)]

    def insights_rows(self, ad_ids: Sequence[str], since: date, until: date) -> list[dict]:
        """The Graph API rows (strings, ``actions`` lists) that Meta would answer."""
        rows = []
        for ad_id in ad_ids:
            for day, (imp, clicks, spend, n, value) in sorted(self._ad(ad_id).daily.items()):
                if since <= day <= until and imp > 0:
                    rows.append(
                        {
                            "ad_id": ad_id,
                            "date_start": day.isoformat(),
                            "date_stop": day.isoformat(),
                            "impressions": str(int(imp)),
                            "clicks": str(int(clicks)),
                            "spend": f"{spend:.2f}",
                            "actions": [{"action_type": "purchase", "value": str(int(n))}],
                            "action_values": [{"action_type": "purchase", "value": f"{value:.2f}"}],
                        }
                    )
        return rows

    # --- time -------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        """The simulated clock (UTC)."""
        return self._now

    def _delivery_weight(self, at: datetime) -> float:
        c = self.config
        h = at.hour + at.minute / 60
        return 1 + c.seasonality_amplitude * math.cos(2 * math.pi * (h - c.peak_hour) / 24)

    def advance(self, hours: int) -> None:
        """Run the market for ``hours`` simulated hours, one hour at a time."""
        if isinstance(hours, bool) or not isinstance(hours, int) or hours < 0:
            raise ValueError(f"hours must be an int >= 0, not {hours!r}")
        for _ in range(hours):
            self._step_hour()
            self._now += timedelta(hours=1)

    def _step_hour(self) -> None:
        c, rng = self.config, self._rng
        weight = self._delivery_weight(self._now)
        live: dict[str, list[str]] = defaultdict(list)
        for ad_id, ad in self._ads.items():
            adset = self._adsets[ad.adset_id]
            if (
                ad.status == "ACTIVE"
                and adset.status == "ACTIVE"
                and self._campaigns.get(adset.campaign_id) == "ACTIVE"
            ):
                live[ad.adset_id].append(ad_id)
        day = self._now.date()
        for adset_id, ads in live.items():
            budget = self._adsets[adset_id].daily_budget_minor
            lam = self.expected_daily_impressions(budget) / 24 * weight / len(ads)
            spend = budget / c.minor_per_major / 24 * weight / len(ads)
            for ad_id in ads:
                ad = self._ads[ad_id]
                t = ad.truth
                fresh = math.exp(-ad.impressions_total / c.fatigue_impressions)
                ctr = t.ctr * (c.fatigue_floor + (1 - c.fatigue_floor) * fresh)
                imp = int(rng.poisson(lam))
                clicks = int(rng.binomial(imp, ctr))
                buys = int(rng.binomial(clicks, t.cvr))
                s = c.order_value_sd
                value = float(
                    rng.lognormal(math.log(t.order_value) - s * s / 2, s, size=buys).sum()
                )
                ad.impressions_total += imp
                acc = ad.daily.setdefault(day, [0, 0, 0.0, 0, 0.0])
                acc[0] += imp
                acc[1] += clicks
                acc[2] += spend if imp else 0.0
                acc[3] += buys
                acc[4] += value
