"""Loop 5, the compound learner: how accurate were the served predictions?

Each logged prediction of an ad (``prediction_log``) is labelled by what the ad did next:
the metrics increment between the last snapshot at or before serving and the first snapshot
within ``label_window_h`` after it with at least ``label_min_impressions`` more impressions.

- CTR: log loss of the predicted CTR over the increment's impressions, and accuracy
  ``1 - Σ|p·n - clicks| / Σ clicks`` (weighted absolute percentage error, by impressions);
- ROAS: accuracy ``1 - Σ spend·|pred - actual| / Σ spend·actual``.

The reported ``accuracy`` is the lower of the two (each when it has ``min_labelled`` labels).
Challenger training starts when it falls below ``accuracy_threshold`` or when
``retrain_after_labels`` new labels arrived since the last training this loop started, at
most once per ``retrain_cooldown_h``.
"""

from __future__ import annotations

import bisect
import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.db import experiments as metrics_repo
from core.db import learning as repo
from core.db.models import PredictionLog
from core.learning.context import CycleContext, Skipped

LOOKBACK = timedelta(days=30)
EPS = 1e-6


def _label(snaps: list[Any], times: list[float], served: float, window_s: float, min_imp: int):
    """(Δimpressions, Δclicks, Δspend, Δrevenue) after ``served``, or None."""
    i = bisect.bisect_right(times, served) - 1
    base = snaps[i] if i >= 0 else None
    b = (
        (0, 0, 0.0, 0.0)
        if base is None
        else (base.impressions, base.clicks, base.spend, base.revenue)
    )
    for snap, t in zip(snaps[i + 1 :], times[i + 1 :], strict=True):
        if t - served > window_s:
            break
        d_imp = snap.impressions - b[0]
        if d_imp >= min_imp:
            return d_imp, snap.clicks - b[1], snap.spend - b[2], snap.revenue - b[3]
    return None


def measure(ctx: CycleContext) -> dict[str, Any]:
    """Label the tenant's recent predictions; accuracy figures (no side effects)."""
    cfg, tenant, now = ctx.config.compound, ctx.tenant_id, ctx.now()
    with ctx.db.session() as s:
        preds = list(
            s.execute(
                select(
                    PredictionLog.kind,
                    PredictionLog.ad_id,
                    PredictionLog.output,
                    PredictionLog.served_at,
                )
                .where(
                    PredictionLog.tenant_id == tenant,
                    PredictionLog.ad_id.is_not(None),
                    PredictionLog.served_at >= now - LOOKBACK,
                )
                .order_by(PredictionLog.served_at)
            )
        )
        ad_ids = sorted({p.ad_id for p in preds})
        history = metrics_repo.metric_history(s, tenant_id=tenant, ad_ids=ad_ids) if ad_ids else {}
    times = {a: [r.observed_at.timestamp() for r in rows] for a, rows in history.items()}
    window_s = cfg.label_window_h * 3600.0
    ctr = {"n": 0, "imp": 0, "clicks": 0, "abs": 0.0, "ll": 0.0}
    roas = {"n": 0, "num": 0.0, "den": 0.0}
    for kind, ad_id, output, served_at in preds:
        label = _label(
            history.get(ad_id, []),
            times.get(ad_id, []),
            served_at.timestamp(),
            window_s,
            cfg.label_min_impressions,
        )
        if label is None:
            continue
        d_imp, d_clicks, d_spend, d_rev = label
        if kind == "ctr" and "predicted_ctr" in output:
            p = min(max(float(output["predicted_ctr"]), EPS), 1 - EPS)
            ctr["n"] += 1
            ctr["imp"] += d_imp
            ctr["clicks"] += d_clicks
            ctr["abs"] += abs(p * d_imp - d_clicks)
            ctr["ll"] -= d_clicks * math.log(p) + (d_imp - d_clicks) * math.log(1 - p)
        elif kind == "roas" and "predicted_roas" in output and d_spend > 0:
            actual = d_rev / d_spend
            roas["n"] += 1
            roas["num"] += d_spend * abs(float(output["predicted_roas"]) - actual)
            roas["den"] += d_spend * actual
    out: dict[str, Any] = {"labelled": ctr["n"] + roas["n"], "predictions": len(preds)}
    accs = []
    if ctr["n"] >= cfg.min_labelled and ctr["clicks"] > 0:
        out["ctr_log_loss"] = round(ctr["ll"] / ctr["imp"], 6)
        out["ctr_accuracy"] = round(max(0.0, 1 - ctr["abs"] / ctr["clicks"]), 4)
        accs.append(out["ctr_accuracy"])
    if roas["n"] >= cfg.min_labelled and roas["den"] > 0:
        out["roas_error"] = round(roas["num"] / roas["den"], 4)
        out["roas_accuracy"] = round(max(0.0, 1 - out["roas_error"]), 4)
        accs.append(out["roas_accuracy"])
    out["accuracy"] = min(accs) if accs else None
    return out


def run(ctx: CycleContext) -> dict[str, Any]:
    cfg, tenant, now = ctx.config.compound, ctx.tenant_id, ctx.now()
    m = measure(ctx)
    with ctx.db.session() as s:
        last = repo.latest_result(s, tenant_id=tenant, kind="accuracy")
    trained_at = int((last.payload if last else {}).get("labelled_at_training", 0))
    new_labels = m["labelled"] - trained_at
    reason = None
    if m["accuracy"] is not None and m["accuracy"] < cfg.accuracy_threshold:
        reason = f"accuracy {m['accuracy']:.2f} < {cfg.accuracy_threshold:.2f}"
    elif new_labels >= cfg.retrain_after_labels:
        reason = f"{new_labels} new labelled predictions"
    last_start = (last.payload if last else {}).get("trained_at")
    cooling = last_start is not None and now - datetime.fromisoformat(last_start) < timedelta(
        hours=cfg.retrain_cooldown_h
    )
    job_id = None
    if reason is not None and cooling:
        reason = f"{reason}; a challenger was started at {last_start} (cooldown)"
    elif reason is not None and ctx.hooks.start_training is not None:
        job_id = ctx.hooks.start_training(tenant, reason)
    payload = {
        **m,
        "retrain_reason": reason,
        "training_job": job_id,
        "labelled_at_training": m["labelled"] if job_id else trained_at,
        "trained_at": now.isoformat() if job_id else last_start,
    }
    with ctx.db.session() as s:
        repo.save_result(
            s, tenant_id=tenant, cycle_id=ctx.cycle_id, kind="accuracy", payload=payload, now=now
        )
    counts = {**m, "models_updated": 1 if job_id else 0, "training_job": job_id}
    if m["accuracy"] is None and job_id is None:
        raise Skipped(
            f"{m['labelled']} labelled predictions; accuracy needs {cfg.min_labelled} of a kind",
            **counts,
        )
    if reason is not None and job_id is None:
        counts["training"] = (
            "not started: cooldown" if cooling else "not started: no trainer in this process"
        )
    return counts
