"""Loop 3's analytics: attribute lifts on CTR and ROAS, with intervals and campaign counts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.config import model_defaults
from core.learning.analytics_config import LearningAnalyticsConfig
from core.learning.cross_learning import (
    Insight,
    attribute_columns,
    creative_attributes,
    feature_lift,
)

SETTINGS = {"min_ads": 10, "min_impressions": 5000, "confidence": 0.95, "bootstrap_rounds": 400}


def planted_ads(n: int = 1000, seed: int = 3) -> pd.DataFrame:
    """5 campaigns; template 'ugc' doubles CTR (and so ROAS); cta, hook_question and motion
    do nothing. Intervals are 95%: about 1 in 20 data seeds puts a null attribute's interval
    off 0 (checked over 60 seeds); seed 3 is not one of them."""
    rng = np.random.default_rng(seed)
    campaign = rng.integers(0, 5, n)
    template = rng.choice(["ugc", "static", "carousel"], n)
    template[:3] = "rare"  # too few ads to judge
    impressions = rng.integers(2_000, 20_000, n)
    base = np.array([0.01, 0.015, 0.02, 0.025, 0.03])[campaign] * rng.lognormal(0, 0.2, n)
    clicks = rng.binomial(impressions, np.where(template == "ugc", 2 * base, base))
    spend = impressions / 1000 * 10.0
    return pd.DataFrame(
        {
            "ad_id": [f"ad{i}" for i in range(n)],
            "campaign_id": [f"c{c}" for c in campaign],
            "impressions": impressions,
            "clicks": clicks,
            "conversions": rng.binomial(clicks, 0.03),
            "spend": spend,
            "revenue": clicks * 1.8 * rng.lognormal(0, 0.3, n),
            "template": template,
            "cta": rng.choice(["shop_now", "learn_more"], n),
            "hook_question": rng.random(n) < 0.4,
            "motion": rng.random(n),
        }
    )


def find(insights: list[Insight], feature: str, value: str, metric: str) -> Insight:
    return next(i for i in insights if (i.feature, i.value, i.metric) == (feature, value, metric))


def test_a_planted_lift_is_found_with_an_interval_and_every_campaign_agreeing() -> None:
    ads = planted_ads()
    insights = feature_lift(ads, **SETTINGS, seed=1)
    for metric in ("ctr", "roas"):
        ugc = find(insights, "template", "ugc", metric)
        assert 0.8 < ugc.lift < 1.2 and 0 < ugc.low < 1.0 < ugc.high  # truth: +100%
        assert ugc.significant and ugc.campaigns == 5 and ugc.campaigns_agreeing == 5
        assert ugc.n_with == int((ads.template == "ugc").sum())
        assert ugc.n_with + ugc.n_without == len(ads)
        assert ugc.impressions_with + ugc.impressions_without == ads.impressions.sum()
    ctr = find(insights, "template", "ugc", "ctr")
    assert ctr.rate_with == pytest.approx(
        ads.clicks[ads.template == "ugc"].sum() / ads.impressions[ads.template == "ugc"].sum()
    )
    assert ctr.rate_with / ctr.rate_without - 1 == pytest.approx(ctr.lift)
    assert insights[0].significant and insights[0].feature == "template"


def test_an_attribute_without_effect_is_not_significant() -> None:
    insights = feature_lift(planted_ads(), **SETTINGS, seed=1)
    for feature, value in (("cta", "shop_now"), ("hook_question", "true"), ("motion", "high")):
        for metric in ("ctr", "roas"):
            found = find(insights, feature, value, metric)
            assert found.low < 0 < found.high and not found.significant
            assert abs(found.lift) < 0.15
    motion = find(insights, "motion", "high", "ctr")
    assert motion.threshold == pytest.approx(planted_ads().motion.median())
    assert motion.n_with == motion.n_without == 500


def test_order_is_significant_first_then_largest_lift() -> None:
    insights = feature_lift(planted_ads(), **SETTINGS, seed=1)
    keys = [(not i.significant, -abs(i.lift)) for i in insights]
    assert keys == sorted(keys)
    assert feature_lift(planted_ads(), **SETTINGS, seed=1, max_insights=3) == insights[:3]


def test_too_little_data_is_skipped() -> None:
    ads = planted_ads()
    insights = feature_lift(ads, **SETTINGS, seed=1)
    assert not [i for i in insights if i.value == "rare"]  # 3 ads
    assert feature_lift(ads, **{**SETTINGS, "min_ads": 600}, seed=1) == []
    assert feature_lift(ads.head(30), **{**SETTINGS, "min_impressions": 10**7}, seed=1) == []
    no_sales = ads.assign(revenue=np.where(ads.template == "ugc", ads.revenue, 0.0))
    out = feature_lift(no_sales, **SETTINGS, seed=1, attributes=["template"])
    assert ("ugc", "roas") not in {(i.value, i.metric) for i in out}  # ROAS without it is 0
    assert ("ugc", "ctr") in {(i.value, i.metric) for i in out}


def test_results_are_deterministic_and_json_ready() -> None:
    ads = planted_ads(300)
    first = feature_lift(ads, **SETTINGS, seed=7)
    assert first == feature_lift(ads, **SETTINGS, seed=7)
    data = json.loads(json.dumps([i.to_dict() for i in first], allow_nan=False))
    assert data[0]["text"].startswith(f"{first[0].feature} = {first[0].value}: ")


def test_missing_columns_fail() -> None:
    with pytest.raises(ValueError, match="spend"):
        feature_lift(planted_ads(50).drop(columns="spend"), **SETTINGS, seed=0)


def test_creative_attributes_from_raw_creative_columns() -> None:
    creatives = pd.DataFrame(
        {
            "hook_text": ["Want 3 tips?", None, "You will love what this does for your skin"],
            "cta": [" Shop_Now", None, ""],
            "template": ["UGC", "static", None],
            "video_features": [[0.2, 0.5], None, [0.4, 0.1, 0.9]],
        },
        index=[10, 11, 12],
    )
    out = creative_attributes(creatives, video_names=("motion", "brightness"))
    assert list(out.index) == [10, 11, 12]
    assert out.template.tolist() == ["ugc", "static", "none"]
    assert out.cta.tolist() == ["shop_now", "none", "none"]
    assert out.hook_question.tolist() == [True, False, False]
    assert out.hook_has_number.tolist() == [True, False, False]
    assert out.hook_you.tolist() == [False, False, True]
    assert out.hook_length_bucket.tolist() == ["short", "none", "medium"]
    assert out.motion.tolist()[::2] == [0.2, 0.4] and np.isnan(out.motion[11])
    assert out.video_2.tolist()[2] == 0.9
    assert attribute_columns(out) == list(out.columns)


def test_attributes_feed_feature_lift() -> None:
    ads = planted_ads(400).drop(columns=["template", "cta", "hook_question", "motion"])
    creatives = pd.DataFrame(
        {
            "hook_text": np.where(np.arange(400) % 2 == 0, "Why?", "Buy now"),
            "template": "ugc",
            "video_features": [[float(i % 7)] for i in range(400)],
        }
    )
    attributes = creative_attributes(creatives)
    assert "duration" in attributes.columns  # core.video's FEATURE_NAMES by default
    insights = feature_lift(ads.join(attributes), **SETTINGS, seed=0)
    assert {(i.feature, i.value) for i in insights} >= {("hook_question", "true")}
    assert not [i for i in insights if i.feature == "template"]  # one value: nothing to compare


def test_config_file_loads_without_defaults() -> None:
    config = LearningAnalyticsConfig.load()
    assert 0 < config.cross_learning.confidence < 1
    assert model_defaults(LearningAnalyticsConfig) == []
    ads = planted_ads(200)
    assert isinstance(feature_lift(ads, **config.cross_learning.model_dump(), seed=0), list)
