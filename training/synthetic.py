"""Synthetic ads with a known true CTR, for tests, benchmarks and quality checks.

Stand-in for the market simulator (``core/platforms/simulator.py``, written in parallel and
not yet available): each ad gets a creative (video feature vector, hook text, CTA, template),
a true CTR that is a fixed, seeded function of those features (logistic in a linear part plus
an interaction), impressions, clicks drawn from the true CTR, conversions and revenue. The
rows have the shape ``core.ml.dataset.build_table`` takes, plus ``true_ctr`` so a test can
measure how close a model gets to the truth (held-out AUC vs the AUC of ``true_ctr``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

TEMPLATES = ("ugc", "testimonial", "demo", "unboxing", "meme", "before_after")
CTAS = ("Shop now", "Learn more", "Sign up", "Get offer", "Watch more")
WORDS = ("new", "best", "you", "your", "deal", "today", "free", "how", "why", "look", "this")
_TEMPLATE_EFFECT = dict(zip(TEMPLATES, (0.45, 0.2, 0.0, -0.15, 0.35, -0.3), strict=True))
_CTA_EFFECT = dict(zip(CTAS, (0.25, -0.1, -0.3, 0.3, 0.0), strict=True))
BASE_LOGIT = -3.7
BASE_VALUE = 30.0  # revenue per click before creative effects


def true_logit(video: np.ndarray, template: str, cta: str, hook: str, *, video_dim: int) -> float:
    """The known CTR logit of a creative (what the model should learn)."""
    v = np.zeros(max(video_dim, 4))
    v[: min(len(video), len(v))] = video[: len(v)]
    words = hook.split()
    return float(
        BASE_LOGIT
        + 0.8 * v[0]
        - 0.6 * v[1]
        + 0.5 * v[2]
        + 0.7 * float(v[0] > 0 and v[3] > 0)  # an interaction trees can find
        + _TEMPLATE_EFFECT.get(template, 0.0)
        + _CTA_EFFECT.get(cta, 0.0)
        + 0.3 * float("?" in hook)
        + 0.2 * float(any(c.isdigit() for c in hook))
        - 0.04 * abs(len(words) - 7)
    )


def synthetic_ads(
    n: int,
    *,
    seed: int,
    video_dim: int = 16,
    tenant_id: str = "default",
    end: datetime | None = None,
    days: float = 60.0,
    mean_impressions: float = 4000.0,
    label_noise: float = 0.0,
) -> list[dict[str, Any]]:
    """``n`` ads, launched evenly at random over ``days`` before ``end``, with outcomes.

    ``label_noise``: standard deviation of extra logit noise per ad (unexplainable CTR).
    """
    rng = np.random.default_rng(seed)
    end = end or datetime(2026, 11, 1, tzinfo=UTC)
    rows = []
    for i in range(n):
        video = rng.normal(0.0, 1.0, video_dim)
        template = TEMPLATES[rng.integers(len(TEMPLATES))]
        cta = CTAS[rng.integers(len(CTAS))]
        hook_words = list(rng.choice(WORDS, size=int(rng.integers(3, 13))))
        if rng.random() < 0.3:
            hook_words.insert(0, str(int(rng.integers(2, 10))))
        hook = " ".join(hook_words) + ("?" if rng.random() < 0.4 else "")
        logit = true_logit(video, template, cta, hook, video_dim=video_dim)
        logit += rng.normal(0.0, label_noise) if label_noise else 0.0
        ctr = 1.0 / (1.0 + np.exp(-logit))
        impressions = int(max(100, rng.lognormal(np.log(mean_impressions), 0.6)))
        clicks = int(rng.binomial(impressions, ctr))
        value = BASE_VALUE * np.exp(0.3 * video[min(2, video_dim - 1)] if video_dim else 0.0)
        conversions = int(rng.binomial(clicks, 0.08)) if clicks else 0
        revenue = float(conversions * value / 0.08 * rng.lognormal(0.0, 0.2)) if clicks else 0.0
        observed = end - timedelta(days=float(rng.uniform(0, days)))
        rows.append(
            {
                "tenant_id": tenant_id,
                "ad_id": f"syn-{seed}-{i}",
                "observed_at": observed,
                "impressions": impressions,
                "clicks": clicks,
                "conversions": conversions,
                "revenue": round(revenue / 10.0, 2),
                "video_features": [float(x) for x in video],
                "hook_text": hook,
                "cta": cta,
                "template": template,
                "true_ctr": float(ctr),
            }
        )
    return rows
