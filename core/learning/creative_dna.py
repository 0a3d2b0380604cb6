"""Loop 4, creative DNA: what separates winners from the other ads.

Input: one row per ad with a boolean ``is_winner`` and attribute / numeric feature columns
(``cross_learning.attribute_columns``; ids and metrics are never features, so nothing leaks
the winner rule). An XGBoost classifier (``binary:logistic``, one thread, seeded, classes
weighted equally) is fitted on one-hot text attributes, bools as 0/1 and numbers as they
are (NaN = missing). Out of it:

- ``importances``: each encoded feature's total gain (summed over its splits), normalised
  to sum 1, largest first; names ``template=ugc``, ``hook_question``, ``motion``;
- ``rules`` for the most important features: ``template = ugc`` (a one-hot or bool holds),
  or ``motion ≥ 0.61`` / ``motion < 0.61`` at the model's split point of most gain (the side
  where winners are more over-represented), with support and lift;
- ``model_auc``: cross-validated AUC, out-of-fold predictions of a stratified k-fold
  (``auc_method`` says so).

No database access and no Ray.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import xgboost as xgb

from core.domain.evaluation import auc
from core.learning.analytics_config import CreativeDnaConfig
from core.learning.cross_learning import attribute_columns, attribute_kind

Status = Literal["completed", "skipped"]


@dataclass(frozen=True)
class Rule:
    """A readable condition and how much more often winners meet it than the rest."""

    feature: str  # the encoded feature: "template=ugc", "hook_question", "motion"
    condition: str  # "template = ugc", "motion ≥ 0.61"
    importance: float
    winners_with: int
    rest_with: int
    share_winners: float  # winners_with / winners
    share_rest: float  # rest_with / other ads
    lift: float | None  # share_winners / share_rest; None when no other ad meets it
    winner_rate_with: float | None  # P(winner | condition)
    winner_rate_without: float | None  # P(winner | not condition)
    text: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in (
            "importance",
            "share_winners",
            "share_rest",
            "lift",
            "winner_rate_with",
            "winner_rate_without",
        ):
            out[key] = None if out[key] is None else round(out[key], 4)
        return out


@dataclass(frozen=True)
class DnaResult:
    """``status`` ``completed`` or ``skipped`` (with ``reason``)."""

    status: Status
    reason: str | None
    n_ads: int
    n_winners: int
    importances: list[tuple[str, float]] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    model_auc: float | None = None
    auc_method: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable."""
        return {
            "status": self.status,
            "reason": self.reason,
            "n_ads": self.n_ads,
            "n_winners": self.n_winners,
            "importances": [[name, round(value, 4)] for name, value in self.importances],
            "rules": [r.to_dict() for r in self.rules],
            "model_auc": None if self.model_auc is None else round(self.model_auc, 4),
            "auc_method": self.auc_method,
        }


@dataclass(frozen=True)
class _Feature:
    name: str
    column: str
    numeric: bool  # a number split at a threshold; else a 0/1 indicator
    label: str = ""  # the indicator's value ("ugc", "true")


def _encode(ads: pd.DataFrame, columns: Sequence[str]) -> tuple[list[_Feature], np.ndarray]:
    """Encoded features and their ``(n, d)`` float matrix (NaN = missing)."""
    features: list[_Feature] = []
    cols: list[np.ndarray] = []
    for col in columns:
        series = ads[col]
        known = series.notna().to_numpy()
        kind = attribute_kind(series)
        if kind == "numeric":
            features.append(_Feature(col, col, True))
            cols.append(series.to_numpy(dtype=np.float64, na_value=np.nan))
        elif kind == "bool":
            features.append(_Feature(col, col, False, "true"))
            cols.append(np.where(known, series.eq(True).fillna(False).to_numpy(bool), np.nan))
        else:
            codes, uniques = pd.factorize(series)
            counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
            for j in np.flatnonzero((counts >= 2) & (counts < len(series))):
                label = str(uniques[j])
                features.append(_Feature(f"{col}={label}", col, False, label))
                cols.append(np.where(known, codes == j, np.nan))
    if not cols:
        return [], np.zeros((len(ads), 0))
    return features, np.column_stack(cols).astype(np.float64)


def _params(config: CreativeDnaConfig, seed: int, n_winners: int, n_rest: int) -> dict[str, Any]:
    return {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "max_depth": config.max_depth,
        "eta": config.learning_rate,
        "tree_method": "hist",
        "scale_pos_weight": n_rest / n_winners,
        "nthread": 1,
        "seed": seed,
        "verbosity": 0,
    }


def _fit(x: np.ndarray, y: np.ndarray, params: dict[str, Any], rounds: int) -> xgb.Booster:
    return xgb.train(params, xgb.DMatrix(x, label=y, missing=np.nan), num_boost_round=rounds)


def _cv_auc(
    x: np.ndarray, y: np.ndarray, params: dict[str, Any], rounds: int, folds: int, seed: int
) -> float | None:
    """AUC of out-of-fold predictions of a stratified ``folds``-fold split."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    for label in (True, False):
        idx = rng.permutation(np.flatnonzero(y == label))
        fold[idx] = np.arange(len(idx)) % folds
    pred = np.empty(len(y))
    for k in range(folds):
        test = fold == k
        booster = _fit(x[~test], y[~test], params, rounds)
        pred[test] = booster.inplace_predict(x[test])
    value = auc(pred, np.ones(len(y)), y.astype(np.float64))
    return None if np.isnan(value) else value


def _best_splits(booster: xgb.Booster) -> dict[int, float]:
    """Feature index -> its split point of most total gain (left branch: ``x < split``)."""
    trees = booster.trees_to_dataframe()
    splits = trees[trees["Feature"] != "Leaf"]
    gain = splits.groupby(["Feature", "Split"])["Gain"].sum()
    best = gain.groupby(level="Feature").idxmax()
    return {int(name[1:]): float(split) for name, split in best.to_list()}


def _stats(mask: np.ndarray, y: np.ndarray) -> tuple[int, int, float, float, float | None]:
    n_win, n_rest = int(y.sum()), int((~y).sum())
    w, r = int((mask & y).sum()), int((mask & ~y).sum())
    share_w, share_r = w / n_win, r / n_rest
    return w, r, share_w, share_r, (share_w / share_r if share_r > 0 else None)


def _lift_key(lift: float | None) -> float:
    return np.inf if lift is None else lift


def _rule(
    feature: _Feature, x: np.ndarray, y: np.ndarray, threshold: float | None, imp: float
) -> Rule:
    if feature.numeric:
        if threshold is None:
            threshold = float(np.nanmedian(x))
        above = np.nan_to_num(x, nan=-np.inf) >= threshold
        below = np.nan_to_num(x, nan=np.inf) < threshold
        use_above = _lift_key(_stats(above, y)[4]) >= _lift_key(_stats(below, y)[4])
        mask = above if use_above else below
        condition = f"{feature.column} {'≥' if use_above else '<'} {threshold:.3g}"
    else:
        mask = x == 1.0
        condition = f"{feature.column} = {feature.label}"
    w, r, share_w, share_r, lift = _stats(mask, y)
    n_in, n_out = int(mask.sum()), int((~mask).sum())
    likely = "only winners" if lift is None else f"{lift:.{1 if lift >= 1 else 2}f}× as likely"
    return Rule(
        feature=feature.name,
        condition=condition,
        importance=imp,
        winners_with=w,
        rest_with=r,
        share_winners=share_w,
        share_rest=share_r,
        lift=lift,
        winner_rate_with=w / n_in if n_in else None,
        winner_rate_without=int((~mask & y).sum()) / n_out if n_out else None,
        text=f"{condition}: {share_w:.0%} of winners vs {share_r:.0%} of the rest ({likely})",
    )


def extract_dna(ads: pd.DataFrame, *, config: CreativeDnaConfig, seed: int) -> DnaResult:
    """Importances and rules separating ``is_winner`` ads from the rest.

    Skipped (``status='skipped'`` with a reason) with fewer than ``config.min_winners``
    winners or ``config.min_others`` other ads, or without feature columns.
    """
    if "is_winner" not in ads.columns:
        raise ValueError("ads lack the is_winner column")
    y = ads["is_winner"].fillna(False).to_numpy(dtype=bool)
    n_ads, n_win = len(ads), int(y.sum())
    n_rest = n_ads - n_win

    def skipped(reason: str) -> DnaResult:
        return DnaResult("skipped", reason, n_ads, n_win)

    if n_win < config.min_winners or n_rest < config.min_others:
        return skipped(
            f"need at least {config.min_winners} winners and {config.min_others} other ads, "
            f"have {n_win} and {n_rest}"
        )
    features, x = _encode(ads, attribute_columns(ads))
    if not features:
        return skipped("no attribute or feature columns to learn from")
    params = _params(config, seed, n_win, n_rest)
    booster = _fit(x, y, params, config.n_estimators)
    folds = min(config.cv_folds, n_win, n_rest)
    model_auc = _cv_auc(x, y, params, config.n_estimators, folds, seed)
    auc_method = f"{folds}-fold stratified cross-validation (out-of-fold predictions)"
    gains = booster.get_score(importance_type="total_gain")
    total = sum(gains.values())
    ranked = sorted(
        ((int(key[1:]), value / total) for key, value in gains.items() if total > 0),
        key=lambda item: (-item[1], features[item[0]].name),
    )
    splits = _best_splits(booster) if ranked else {}
    rules = [
        _rule(features[i], x[:, i], y, splits.get(i), imp) for i, imp in ranked[: config.max_rules]
    ]
    return DnaResult(
        status="completed",
        reason=None if ranked else "no feature separates winners from the rest",
        n_ads=n_ads,
        n_winners=n_win,
        importances=[(features[i].name, imp) for i, imp in ranked],
        rules=rules,
        model_auc=model_auc,
        auc_method=auc_method,
    )
