"""Scoring models on held-out data and the champion/challenger promotion rule (SPEC §5).

Rows are aggregated outcomes: row ``i`` is an ad with ``impressions[i]`` trials and
``clicks[i]`` successes, scored with a predicted probability ``p[i]``. Every metric is the
per-impression metric (as if each impression were its own row), without expanding rows.

For the conversion-value model rows are values ``y[i]`` with weights ``w[i]`` and the loss
is the weighted squared error. Both kinds go through the same rule: lower loss wins.

The rule: with no champion, the challenger is promoted. Otherwise it is promoted only if
its held-out loss is below the champion's by at least ``margin`` (relative), and the
bootstrap interval (resampling rows) of ``champion_loss - challenger_loss`` lies above zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

EPS = 1e-7
Action = Literal["promoted", "kept"]


def _check(*arrays: np.ndarray) -> None:
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError("arrays must have the same length")
    if n == 0:
        raise ValueError("need at least one row")


def binomial_losses(p: np.ndarray, impressions: np.ndarray, clicks: np.ndarray) -> np.ndarray:
    """Per-row summed log loss, shape ``(n_rows,)``: ``-(c log p + (n - c) log(1 - p))``."""
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    n = np.asarray(impressions, dtype=np.float64)
    c = np.asarray(clicks, dtype=np.float64)
    _check(p, n, c)
    if np.any(c < 0) or np.any(c > n):
        raise ValueError("clicks must be in [0, impressions]")
    return -(c * np.log(p) + (n - c) * np.log1p(-p))


def log_loss(p: np.ndarray, impressions: np.ndarray, clicks: np.ndarray) -> float:
    """Mean log loss per impression."""
    return float(binomial_losses(p, impressions, clicks).sum() / np.sum(impressions))


def auc(p: np.ndarray, impressions: np.ndarray, clicks: np.ndarray) -> float:
    """ROC AUC per impression (clicks positive, the rest negative; ties count one half).

    NaN when there are no clicks or no non-clicks.
    """
    p = np.asarray(p, dtype=np.float64)
    pos = np.asarray(clicks, dtype=np.float64)
    neg = np.asarray(impressions, dtype=np.float64) - pos
    _check(p, pos, neg)
    total_pos, total_neg = pos.sum(), neg.sum()
    if total_pos <= 0 or total_neg <= 0:
        return float("nan")
    scores, inverse = np.unique(p, return_inverse=True)
    pos_at = np.bincount(inverse, weights=pos, minlength=len(scores))
    neg_at = np.bincount(inverse, weights=neg, minlength=len(scores))
    neg_below = np.cumsum(neg_at) - neg_at
    wins = np.sum(pos_at * (neg_below + 0.5 * neg_at))
    return float(wins / (total_pos * total_neg))


def calibration(
    p: np.ndarray, impressions: np.ndarray, clicks: np.ndarray, bins: int
) -> dict[str, Any]:
    """Observed/expected ratio, expected calibration error and a reliability table.

    Bins hold about equal impressions, by predicted probability.
    """
    p = np.asarray(p, dtype=np.float64)
    n = np.asarray(impressions, dtype=np.float64)
    c = np.asarray(clicks, dtype=np.float64)
    _check(p, n, c)
    order = np.argsort(p, kind="stable")
    cum = np.cumsum(n[order])
    edges = np.searchsorted(cum, np.linspace(0, cum[-1], bins + 1)[1:-1], side="right")
    table, ece = [], 0.0
    for idx in np.split(order, edges):
        if len(idx) == 0:
            continue
        imps = n[idx].sum()
        predicted = float(np.sum(p[idx] * n[idx]) / imps)
        observed = float(c[idx].sum() / imps)
        ece += imps / n.sum() * abs(predicted - observed)
        table.append({"predicted": predicted, "observed": observed, "impressions": int(imps)})
    expected = float(np.sum(p * n))
    return {
        "observed_over_expected": float(c.sum() / expected) if expected > 0 else float("nan"),
        "ece": float(ece),
        "bins": table,
    }


def squared_losses(pred: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-row weighted squared error, shape ``(n_rows,)``."""
    pred, y, w = (np.asarray(a, dtype=np.float64) for a in (pred, y, w))
    _check(pred, y, w)
    return w * (pred - y) ** 2


def ctr_report(
    p: np.ndarray, impressions: np.ndarray, clicks: np.ndarray, bins: int
) -> dict[str, Any]:
    """Log loss, AUC and calibration of CTR predictions."""
    return {
        "log_loss": log_loss(p, impressions, clicks),
        "auc": auc(p, impressions, clicks),
        "calibration": calibration(p, impressions, clicks, bins),
        "rows": int(len(p)),
        "impressions": int(np.sum(impressions)),
    }


def value_report(pred: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict[str, Any]:
    """Weighted RMSE and MAE of conversion-value predictions."""
    w = np.asarray(w, dtype=np.float64)
    mse = float(squared_losses(pred, y, w).sum() / w.sum())
    mae = float(np.sum(w * np.abs(np.asarray(pred) - np.asarray(y))) / w.sum())
    return {"mse": mse, "rmse": mse**0.5, "mae": mae, "rows": int(len(y))}


def bootstrap_difference(
    losses_a: np.ndarray,
    losses_b: np.ndarray,
    weights: np.ndarray,
    *,
    samples: int,
    confidence: float,
    seed: int,
) -> tuple[float, float, float]:
    """``(estimate, low, high)`` of ``mean_loss(a) - mean_loss(b)`` per unit weight.

    ``losses_*``: per-row summed losses, shape ``(n_rows,)``; ``weights``: each row's units
    (impressions). Rows are resampled with replacement ``samples`` times (percentile interval).
    """
    a, b, w = (np.asarray(x, dtype=np.float64) for x in (losses_a, losses_b, weights))
    _check(a, b, w)
    diff = a - b
    estimate = float(diff.sum() / w.sum())
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(samples, len(diff)))
    stats = diff[idx].sum(axis=1) / np.maximum(w[idx].sum(axis=1), EPS)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(stats, [tail, 100 - tail])
    return estimate, float(low), float(high)


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    champion_loss: float | None
    challenger_loss: float
    improvement: float | None  # relative: (champion - challenger) / champion
    interval: tuple[float, float] | None  # of champion_loss - challenger_loss

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(
    challenger_losses: np.ndarray,
    champion_losses: np.ndarray | None,
    weights: np.ndarray,
    *,
    margin: float,
    samples: int,
    confidence: float,
    seed: int,
) -> Decision:
    """Promote or keep (module docstring). Losses are per row, on the same held-out rows."""
    w = np.asarray(weights, dtype=np.float64)
    challenger = float(np.sum(challenger_losses) / w.sum())
    if champion_losses is None:
        return Decision("promoted", "no champion yet", None, challenger, None, None)
    champion = float(np.sum(champion_losses) / w.sum())
    estimate, low, high = bootstrap_difference(
        champion_losses, challenger_losses, w, samples=samples, confidence=confidence, seed=seed
    )
    improvement = estimate / champion if champion > 0 else 0.0
    pct = f"{confidence:.0%}"
    if improvement < margin:
        reason = f"improvement {improvement:.4%} below margin {margin:.4%}"
        return Decision("kept", reason, champion, challenger, improvement, (low, high))
    if low <= 0:
        reason = f"{pct} bootstrap interval of the loss difference includes zero"
        return Decision("kept", reason, champion, challenger, improvement, (low, high))
    reason = f"loss {improvement:.2%} lower, {pct} interval [{low:.3g}, {high:.3g}] above zero"
    return Decision("promoted", reason, champion, challenger, improvement, (low, high))
