"""Loop 4's analytics: what separates winners from the rest (XGBoost importances, rules)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.learning.analytics_config import CreativeDnaConfig, LearningAnalyticsConfig
from core.learning.creative_dna import DnaResult, extract_dna


@pytest.fixture(scope="module")
def config() -> CreativeDnaConfig:
    return LearningAnalyticsConfig.load().creative_dna.model_copy(
        update={"min_winners": 10, "min_others": 10, "n_estimators": 40, "max_rules": 5}
    )


def planted_ads(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Winners: template 'ugc' and motion > 0.6 (5% of labels flipped); the rest is noise."""
    rng = np.random.default_rng(seed)
    ads = pd.DataFrame(
        {
            "ad_id": [f"ad{i}" for i in range(n)],
            "campaign_id": [f"c{i % 4}" for i in range(n)],
            "impressions": rng.integers(1000, 5000, n),
            "clicks": rng.integers(10, 100, n),
            "template": rng.choice(["ugc", "static", "carousel"], n),
            "cta": rng.choice(["shop_now", "learn_more"], n),
            "hook_question": rng.random(n) < 0.4,
            "motion": rng.random(n),
            "brightness": rng.random(n),
        }
    )
    winner = (ads.template == "ugc") & (ads.motion > 0.6)
    flip = rng.random(n) < 0.05
    ads["is_winner"] = np.where(flip, ~winner, winner)
    return ads


def test_planted_winner_dna_is_found(config: CreativeDnaConfig) -> None:
    ads = planted_ads()
    result = extract_dna(ads, config=config, seed=0)
    assert result.status == "completed" and result.reason is None
    assert result.n_ads == 600 and result.n_winners == int(ads.is_winner.sum())
    top = {name for name, _ in result.importances[:2]}
    assert top == {"template=ugc", "motion"}
    assert sum(v for _, v in result.importances) == pytest.approx(1.0)
    assert result.model_auc is not None and result.model_auc > 0.75  # 5% flipped labels cap it
    assert result.auc_method is not None and "cross-validation" in result.auc_method
    assert len(result.rules) <= config.max_rules

    ugc = next(r for r in result.rules if r.feature == "template=ugc")
    assert ugc.condition == "template = ugc" and ugc.lift is not None and ugc.lift > 2
    is_ugc, won = ads.template == "ugc", ads.is_winner
    assert ugc.winners_with == int((is_ugc & won).sum())
    assert ugc.rest_with == int((is_ugc & ~won).sum())
    assert ugc.share_winners == pytest.approx(ugc.winners_with / won.sum())
    assert ugc.winner_rate_with == pytest.approx(won[is_ugc].mean())
    assert ugc.winner_rate_without == pytest.approx(won[~is_ugc].mean())
    assert "of winners vs" in ugc.text and "× as likely" in ugc.text

    motion = next(r for r in result.rules if r.feature == "motion")
    assert motion.condition.startswith("motion ≥ ")
    assert float(motion.condition.split("≥ ")[1]) == pytest.approx(0.6, abs=0.05)
    assert motion.lift is not None and motion.lift > 1.5


def test_too_few_winners_or_others_is_skipped(config: CreativeDnaConfig) -> None:
    ads = planted_ads(200).assign(is_winner=False)
    ads.loc[:4, "is_winner"] = True
    result = extract_dna(ads, config=config, seed=0)
    assert result.status == "skipped" and result.n_winners == 5 and result.n_ads == 200
    assert "at least 10 winners" in (result.reason or "") and "have 5 and 195" in result.reason
    assert result.rules == [] and result.importances == [] and result.model_auc is None
    everyone = extract_dna(ads.assign(is_winner=True), config=config, seed=0)
    assert everyone.status == "skipped"


def test_no_features_is_skipped(config: CreativeDnaConfig) -> None:
    ads = planted_ads(100)[["ad_id", "campaign_id", "impressions", "clicks", "is_winner"]]
    result = extract_dna(ads, config=config, seed=0)
    assert result.status == "skipped" and "no attribute" in (result.reason or "")


def test_deterministic_and_json_serialisable(config: CreativeDnaConfig) -> None:
    ads = planted_ads(300, seed=1)
    first = extract_dna(ads, config=config, seed=3)
    assert first == extract_dna(ads, config=config, seed=3)
    data = json.loads(json.dumps(first.to_dict(), allow_nan=False))
    assert data["status"] == "completed" and data["rules"][0]["text"]
    assert isinstance(first, DnaResult) and data["importances"][0][0] == first.importances[0][0]
    skipped = extract_dna(ads.head(15), config=config, seed=3).to_dict()
    assert json.loads(json.dumps(skipped))["status"] == "skipped"


def test_is_winner_is_required(config: CreativeDnaConfig) -> None:
    with pytest.raises(ValueError, match="is_winner"):
        extract_dna(planted_ads(50).drop(columns="is_winner"), config=config, seed=0)
