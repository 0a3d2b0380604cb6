"""Loop 3, the cross-learner: which creative attributes lift CTR and ROAS across campaigns.

Input: one row per ad with ``ad_id, campaign_id, impressions, clicks, conversions, spend,
revenue`` and attribute columns (:func:`creative_attributes` derives them from a creative's
raw ``hook_text, cta, template, video_features``). Each attribute value splits the ads into
those with it and those without; ads whose attribute is unknown (NaN) are on neither side.

- bool column: ``true`` vs ``false``; text column: each value vs every other value; numeric
  column: ``high`` (above the median, the insight's ``threshold``) vs ``low``.
- lift: pooled ratio with / pooled ratio without − 1; CTR = Σclicks / Σimpressions,
  ROAS = Σrevenue / Σspend.
- interval (``low``, ``high``): percentile bootstrap over ads. A Poisson bootstrap: each
  round weights every ad by a Poisson(1) count, the same rounds for every attribute, so
  differences between ads (not only click noise) widen it. ``significant``: it excludes 0.
- ``campaigns``: campaigns with ads on both sides (positive impressions; for ROAS positive
  spend); ``campaigns_agreeing``: those whose own lift has the sign of the overall lift.

No database access and no Ray: vectorised numpy over a DataFrame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from core.domain.model_features import _hook

Metric = Literal["ctr", "roas"]
Kind = Literal["bool", "numeric", "category"]

# Columns that are ids, metrics, labels or raw inputs, never attributes.
NON_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "ad_id",
        "ad_set_id",
        "adset_id",
        "campaign_id",
        "creative_id",
        "video_id",
        "video_path",
        "tenant_id",
        "name",
        "status",
        "platform",
        "impressions",
        "clicks",
        "conversions",
        "spend",
        "revenue",
        "ctr",
        "roas",
        "cpa",
        "daily_budget",
        "is_winner",
        "hook_text",
        "video_features",
        "launched_at",
        "created_at",
        "observed_at",
    }
)
# Hook length buckets by word count: at most 5 words short, at most 12 medium, more long.
HOOK_LENGTH_BUCKETS: tuple[tuple[int, str], ...] = ((5, "short"), (12, "medium"))
HOOK_LONG = "long"
NONE = "none"  # a missing template/CTA/hook
# (numerator, denominator) columns of each metric, in the order of ``_VALUES``.
_VALUES = ("clicks", "impressions", "revenue", "spend")
_RATIO: dict[Metric, tuple[int, int]] = {"ctr": (0, 1), "roas": (2, 3)}
_CHUNK = 250  # bootstrap rounds drawn at once (bounds memory)


@dataclass(frozen=True)
class Insight:
    """One attribute value's lift on one metric (``lift`` 1.0 = +100%)."""

    feature: str
    value: str
    metric: Metric
    lift: float
    low: float
    high: float
    n_with: int
    n_without: int
    campaigns: int
    campaigns_agreeing: int
    significant: bool
    impressions_with: int
    impressions_without: int
    rate_with: float
    rate_without: float
    threshold: float | None = None

    @property
    def text(self) -> str:
        """E.g. ``template = ugc: CTR +98% [+81%, +117%], 5 of 5 campaigns agree``."""
        return (
            f"{self.feature} = {self.value}: {self.metric.upper()} {self.lift:+.0%} "
            f"[{self.low:+.0%}, {self.high:+.0%}], "
            f"{self.campaigns_agreeing} of {self.campaigns} campaigns agree"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: lifts and CTRs to 4 decimals, ROAS to 2."""
        out = asdict(self)
        digits = 4 if self.metric == "ctr" else 2
        for key in ("lift", "low", "high"):
            out[key] = round(out[key], 4)
        for key in ("rate_with", "rate_without"):
            out[key] = round(out[key], digits)
        if self.threshold is not None:
            out["threshold"] = round(self.threshold, 6)
        out["text"] = self.text
        return out


def _is_sequence(value: Any) -> bool:
    return isinstance(value, list | tuple | np.ndarray | dict)


def attribute_kind(series: pd.Series) -> Kind:
    """How a column is compared: ``bool``, ``numeric`` (split at its median) or ``category``."""
    if ptypes.is_bool_dtype(series):
        return "bool"
    if ptypes.is_numeric_dtype(series):
        return "numeric"
    known = series.dropna()
    if len(known) and known.map(lambda v: isinstance(v, bool | np.bool_)).all():
        return "bool"
    return "category"


def attribute_columns(ads: pd.DataFrame) -> list[str]:
    """The attribute columns of ``ads``: every column but ids, metrics, labels
    (:data:`NON_ATTRIBUTES`), times, and columns holding lists."""
    out: list[str] = []
    for name in ads.columns:
        series = ads[name]
        if name in NON_ATTRIBUTES or ptypes.is_datetime64_any_dtype(series):
            continue
        if series.dtype == object and series.map(_is_sequence).any():
            continue
        out.append(str(name))
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return str(value)


def _category(series: pd.Series) -> pd.Series:
    """Stripped, lower-case text; missing or empty -> ``none``."""
    return series.map(lambda v: (v.strip().lower() or NONE) if isinstance(v, str) else NONE)


def _length_bucket(words: int) -> str:
    if words == 0:
        return NONE
    for bound, label in HOOK_LENGTH_BUCKETS:
        if words <= bound:
            return label
    return HOOK_LONG


def _video_frame(values: pd.Series, names: Sequence[str] | None, index: pd.Index) -> pd.DataFrame:
    rows = [list(v) if _is_sequence(v) else [] for v in values]
    width = max((len(r) for r in rows), default=0)
    if width == 0:
        return pd.DataFrame(index=index)
    if names is None:  # imported here: core.video is slow to import and rarely needed
        from core.video.ops.creative_features import FEATURE_NAMES

        names = FEATURE_NAMES
    arr = np.full((len(rows), width), np.nan)
    for i, row in enumerate(rows):
        arr[i, : len(row)] = np.asarray(row, dtype=np.float64)
    arr[~np.isfinite(arr)] = np.nan
    columns = [names[i] if i < len(names) else f"video_{i}" for i in range(width)]
    return pd.DataFrame(arr, index=index, columns=columns)


def creative_attributes(
    creatives: pd.DataFrame, *, video_names: Sequence[str] | None = None
) -> pd.DataFrame:
    """Attribute columns of each creative, same index as ``creatives``.

    Reads ``hook_text, cta, template, video_features`` (each may be absent or None):

    - ``template``, ``cta``: stripped lower-case text, ``none`` when missing;
    - ``hook_question`` (the hook ends with ``?``), ``hook_has_number``, ``hook_you``
      (says "you"/"your"; both as in the CTR model's hook features), ``hook_length_bucket``
      (:data:`HOOK_LENGTH_BUCKETS` by word count; ``none`` without a hook);
    - one float column per ``video_features`` entry, named by ``video_names`` (default:
      ``core.video``'s ``FEATURE_NAMES``; ``video_<i>`` beyond them), NaN where missing.
      The cross-learner splits them at their median; the creative DNA uses them as numbers.

    Join the result to the per-ad frame (e.g. ``ads.join(creative_attributes(ads))``).
    """
    index = creatives.index

    def column(name: str) -> pd.Series:
        if name in creatives.columns:
            return creatives[name]
        return pd.Series([None] * len(creatives), index=index, dtype=object)

    hooks = [h if isinstance(h, str) else "" for h in column("hook_text")]
    parts = [_hook(h) for h in hooks]  # words, has '?', has a digit, says you/your
    out = pd.DataFrame(
        {
            "template": _category(column("template")),
            "cta": _category(column("cta")),
            "hook_question": [h.rstrip().endswith("?") for h in hooks],
            "hook_has_number": [bool(p[2]) for p in parts],
            "hook_you": [bool(p[3]) for p in parts],
            "hook_length_bucket": [_length_bucket(int(p[0])) for p in parts],
        },
        index=index,
    )
    out = out.astype({k: bool for k in ("hook_question", "hook_has_number", "hook_you")})
    return pd.concat([out, _video_frame(column("video_features"), video_names, index)], axis=1)


@dataclass(frozen=True)
class _Level:
    feature: str
    value: str
    threshold: float | None
    attribute: int  # index of the attribute (its known-mask column)


def _levels(
    ads: pd.DataFrame, columns: Sequence[str], min_ads: int
) -> tuple[list[_Level], np.ndarray, np.ndarray]:
    """Candidate levels, their with-masks ``(n, K)`` and the attributes' known-masks ``(n, F)``."""
    levels: list[_Level] = []
    with_masks: list[np.ndarray] = []
    known_masks: list[np.ndarray] = []
    for col in columns:
        series = ads[col]
        known = series.notna().to_numpy()
        n_known = int(known.sum())
        if n_known < 2 * min_ads:
            continue
        f = len(known_masks)
        kind = attribute_kind(series)
        found: list[tuple[str, float | None, np.ndarray]] = []
        if kind == "bool":
            found.append(("true", None, known & series.eq(True).fillna(False).to_numpy(bool)))
        elif kind == "numeric":
            x = series.to_numpy(dtype=np.float64, na_value=np.nan)
            median = float(np.nanmedian(x))
            high = known & (x > median)
            if not high.any():  # the median is the largest value: at-or-above it is "high"
                high = known & (x >= median)
            found.append(("high", median, high))
        else:
            codes, uniques = pd.factorize(series)
            counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
            for j in np.flatnonzero((counts >= min_ads) & (n_known - counts >= min_ads)):
                found.append((_text(uniques[j]), None, codes == j))
        for value, threshold, mask in found:
            levels.append(_Level(col, value, threshold, f))
            with_masks.append(mask)
        if found:
            known_masks.append(known)
    n = len(ads)
    if not levels:
        return [], np.zeros((n, 0), bool), np.zeros((n, 0), bool)
    return levels, np.column_stack(with_masks), np.column_stack(known_masks)


def _sums(weights: np.ndarray, masks: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``(m, L, 4)``: for each weight row and mask column, the weighted sums of ``values``."""
    n, width = masks.shape
    z = (masks[:, :, None] * values[:, None, :]).reshape(n, width * values.shape[1])
    return (weights @ z).reshape(weights.shape[0], width, values.shape[1])


def _ratio_lift(with_: np.ndarray, without: np.ndarray, metric: Metric) -> np.ndarray:
    num, den = _RATIO[metric]
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = (with_[..., num] / with_[..., den]) / (without[..., num] / without[..., den]) - 1
    return np.where(np.isfinite(lift), lift, np.nan)


def feature_lift(
    ads: pd.DataFrame,
    *,
    min_ads: int,
    min_impressions: int,
    confidence: float,
    bootstrap_rounds: int,
    seed: int | None,
    max_insights: int | None = None,
    attributes: Sequence[str] | None = None,
) -> list[Insight]:
    """Each attribute value's CTR and ROAS lift, most significant then largest first.

    A value is skipped unless each side has ``min_ads`` ads and ``min_impressions``
    impressions, and its lift is defined (ROAS: spend on both sides, revenue without it) in
    the data and in at least half the bootstrap rounds (the interval uses those rounds).
    ``attributes``: the columns to study (default: :func:`attribute_columns`). The keyword
    arguments but ``seed`` are ``CrossLearningConfig``'s keys:
    ``feature_lift(ads, **config.model_dump(), seed=seed)``.
    """
    required = ("campaign_id", *_VALUES)
    missing = [c for c in required if c not in ads.columns]
    if missing:
        raise ValueError(f"ads lack column(s) {', '.join(missing)}")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    columns = list(attributes) if attributes is not None else attribute_columns(ads)
    levels, with_m, known_m = _levels(ads, columns, min_ads)
    if not levels:
        return []
    values = np.column_stack([ads[c].to_numpy(dtype=np.float64, na_value=0.0) for c in _VALUES])
    values = np.nan_to_num(values)
    attr = np.array([lv.attribute for lv in levels])
    ones = np.ones((1, len(ads)))
    total_with = _sums(ones, with_m.astype(np.float64), values)[0]
    total_without = _sums(ones, known_m.astype(np.float64), values)[0][attr] - total_with
    n_with = with_m.sum(axis=0)
    n_without = known_m.sum(axis=0)[attr] - n_with
    keep = (
        (n_with >= min_ads)
        & (n_without >= min_ads)
        & (total_with[:, 1] >= min_impressions)
        & (total_without[:, 1] >= min_impressions)
    )
    if not keep.any():
        return []
    levels = [lv for lv, k in zip(levels, keep, strict=True) if k]
    with_f, known_f = with_m[:, keep].astype(np.float64), known_m.astype(np.float64)
    attr, total_with, total_without = attr[keep], total_with[keep], total_without[keep]
    n_with, n_without = n_with[keep], n_without[keep]

    rng = np.random.default_rng(seed)
    boot_with = np.empty((bootstrap_rounds, len(levels), len(_VALUES)))
    boot_known = np.empty((bootstrap_rounds, known_f.shape[1], len(_VALUES)))
    for start in range(0, bootstrap_rounds, _CHUNK):
        stop = min(start + _CHUNK, bootstrap_rounds)
        weights = rng.poisson(1.0, size=(stop - start, len(ads))).astype(np.float64)
        boot_with[start:stop] = _sums(weights, with_f, values)
        boot_known[start:stop] = _sums(weights, known_f, values)
    boot_without = boot_known[:, attr] - boot_with

    codes, _ = pd.factorize(ads["campaign_id"])
    n_campaigns = int(codes.max()) + 1 if len(codes) else 0
    in_campaign = np.zeros((n_campaigns, len(ads)))
    rows = np.flatnonzero(codes >= 0)
    in_campaign[codes[rows], rows] = 1.0
    camp_with = _sums(in_campaign, with_f, values)
    camp_without = _sums(in_campaign, known_f, values)[:, attr] - camp_with

    alpha = 1.0 - confidence
    insights: list[Insight] = []
    for metric, (num, den) in _RATIO.items():
        lift = _ratio_lift(total_with, total_without, metric)
        boot = _ratio_lift(boot_with, boot_without, metric)
        finite = np.isfinite(boot).mean(axis=0) >= 0.5
        boot[:, ~finite] = 0.0  # no interval: such a level is dropped below
        low, high = np.nanquantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
        comparable = (camp_with[..., den] > 0) & (camp_without[..., den] > 0)
        camp_sign = np.sign(
            camp_with[..., num] * camp_without[..., den]
            - camp_without[..., num] * camp_with[..., den]
        )
        agree = comparable & (camp_sign == np.sign(lift)) & (np.sign(lift) != 0)
        rate_with = total_with[:, num] / np.maximum(total_with[:, den], 1e-300)
        rate_without = total_without[:, num] / np.maximum(total_without[:, den], 1e-300)
        for k, level in enumerate(levels):
            if not (np.isfinite(lift[k]) and finite[k]):
                continue
            insights.append(
                Insight(
                    feature=level.feature,
                    value=level.value,
                    metric=metric,
                    lift=float(lift[k]),
                    low=float(low[k]),
                    high=float(high[k]),
                    n_with=int(n_with[k]),
                    n_without=int(n_without[k]),
                    campaigns=int(comparable[:, k].sum()),
                    campaigns_agreeing=int(agree[:, k].sum()),
                    significant=bool(low[k] > 0 or high[k] < 0),
                    impressions_with=int(total_with[k, 1]),
                    impressions_without=int(total_without[k, 1]),
                    rate_with=float(rate_with[k]),
                    rate_without=float(rate_without[k]),
                    threshold=level.threshold,
                )
            )
    insights.sort(key=lambda i: (not i.significant, -abs(i.lift), i.feature, i.value, i.metric))
    return insights if max_insights is None else insights[:max_insights]
