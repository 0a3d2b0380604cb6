"""The two XGBoost models on one machinery: CTR and conversion value.

- ``ctr``: ``binary:logistic`` on each ad's click rate, weighted by impressions (the same
  optimum as one row per impression); loss: log loss per impression.
- ``value``: ``reg:squarederror`` on revenue per click, weighted by clicks, ads with clicks
  only; loss: squared error per click.

``TaskData`` holds what a kind trains and is judged on; ``Model`` is a booster plus what is
needed to score raw features the same way the training rows were encoded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xgboost as xgb

from core.domain import evaluation
from core.domain.model_features import encode_many, feature_names
from core.ml.config import FeatureConfig
from core.ml.dataset import column, matrix

Kind = Literal["ctr", "value"]
KINDS: tuple[Kind, ...] = ("ctr", "value")
OBJECTIVE = {"ctr": "binary:logistic", "value": "reg:squarederror"}
EVAL_METRIC = {"ctr": "logloss", "value": "rmse"}


@dataclass(frozen=True)
class TaskData:
    """One kind's view of a table: features ``x`` (n, d), label ``y``, weight ``w``,
    and for CTR the raw counts (AUC, calibration)."""

    kind: Kind
    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    impressions: np.ndarray
    clicks: np.ndarray
    true_ctr: np.ndarray | None = None

    def dmatrix(self) -> xgb.DMatrix:
        return xgb.DMatrix(self.x, label=self.y, weight=self.w)


def task_data(kind: Kind, table: pa.Table, features: FeatureConfig) -> TaskData:
    names = feature_names(features.video_dim, features.hash_buckets)
    if kind == "value":
        table = table.filter(pc.greater(table["clicks"], 0))
    n, c = column(table, "impressions"), column(table, "clicks")
    truth = column(table, "true_ctr") if table["true_ctr"].null_count == 0 else None
    if kind == "ctr":
        y, w = c / np.maximum(n, 1), n
    else:
        y, w = column(table, "revenue") / np.maximum(c, 1), c
    return TaskData(kind, matrix(table, names), y, w, n, c, truth)


def xgb_params(kind: Kind, params: dict[str, Any], *, device: str, seed: int) -> dict[str, Any]:
    """XGBoost parameters: the sampled hyperparameters plus the kind's objective."""
    out = {k: (int(v) if k == "max_depth" else float(v)) for k, v in params.items()}
    out.update(
        objective=OBJECTIVE[kind],
        eval_metric=EVAL_METRIC[kind],
        tree_method="hist",
        device=device,
        seed=seed,
        nthread=1,
    )
    if kind == "ctr":
        out["base_score"] = 0.02
    return out


@dataclass
class Model:
    kind: Kind
    booster: xgb.Booster
    features: FeatureConfig
    params: dict[str, Any] = field(default_factory=dict)
    rounds: int = 0

    def predict_matrix(self, x: np.ndarray) -> np.ndarray:
        return self.booster.inplace_predict(x.astype(np.float32, copy=False))

    def predict(self, rows: list[dict[str, Any]]) -> np.ndarray:
        """Predictions for raw creative features (``core.domain.model_features``)."""
        x = encode_many(
            rows, video_dim=self.features.video_dim, hash_buckets=self.features.hash_buckets
        )
        return self.predict_matrix(x)

    def save(self, path: Path) -> None:
        """``<path>`` (UBJSON booster) and ``<path>.json`` (kind, features, params)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(path))
        meta = {
            "kind": self.kind,
            "features": self.features.model_dump(),
            "params": self.params,
            "rounds": self.rounds,
        }
        Path(f"{path}.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: Path) -> Model:
        meta = json.loads(Path(f"{path}.json").read_text())
        booster = xgb.Booster()
        booster.load_model(str(path))
        booster.set_param({"nthread": 1, "device": "cpu"})
        return cls(
            meta["kind"], booster, FeatureConfig(**meta["features"]), meta["params"], meta["rounds"]
        )


def fit(
    data: TaskData,
    params: dict[str, Any],
    *,
    rounds: int,
    features: FeatureConfig,
    device: str = "cpu",
    seed: int = 0,
) -> Model:
    """Train one model with fixed hyperparameters."""
    booster = xgb.train(
        xgb_params(data.kind, params, device=device, seed=seed),
        data.dmatrix(),
        num_boost_round=rounds,
    )
    booster.set_param({"device": "cpu"})
    return Model(data.kind, booster, features, dict(params), rounds)


def losses(kind: Kind, pred: np.ndarray, data: TaskData) -> np.ndarray:
    """Per-row summed loss (what the promotion rule compares), shape ``(n_rows,)``."""
    if kind == "ctr":
        return evaluation.binomial_losses(pred, data.impressions, data.clicks)
    return evaluation.squared_losses(pred, data.y, data.w)


def report(kind: Kind, pred: np.ndarray, data: TaskData, *, bins: int) -> dict[str, Any]:
    """Held-out metrics; for CTR with a known truth also the true CTR's AUC."""
    if kind == "value":
        return evaluation.value_report(pred, data.y, data.w)
    out = evaluation.ctr_report(pred, data.impressions, data.clicks, bins)
    if data.true_ctr is not None:
        out["true_ctr_auc"] = evaluation.auc(data.true_ctr, data.impressions, data.clicks)
    return out


def loss_of(kind: Kind, pred: np.ndarray, data: TaskData) -> float:
    return float(losses(kind, pred, data).sum() / data.w.sum())
