"""Winning patterns: choices read back from winners' copy and feature vectors, insights and
creative-DNA rules turned into modifiers, and the database read."""

from __future__ import annotations

import pytest

from core.db.engine import Database
from core.db.learning import save_result
from core.db.models import utcnow
from core.db.winners import upsert_winners
from core.domain.video_scale import (
    CUT_RATE_SCALE,
    DURATION_SCALE_S,
    MOTION_SCALE,
    aspect_feature,
    squash,
    unsquash,
)
from core.learning.patterns import (
    Modifier,
    WinnerFacts,
    dna_modifiers,
    extract_patterns,
    insight_modifiers,
    nearest_aspect,
    read_patterns,
)


def features(duration_s: float, aspect: float, cuts_per_s: float = 0.2) -> list[float]:
    vec = [0.0] * 16
    vec[0] = squash(duration_s, DURATION_SCALE_S)
    vec[1] = aspect_feature(aspect)
    vec[11] = squash(cuts_per_s, CUT_RATE_SCALE)
    vec[12] = squash(0.01, MOTION_SCALE)
    return vec


def winner(i: int, cta: str, hook: str, duration_s: float, aspect: float, ctr=0.05) -> WinnerFacts:
    return WinnerFacts(
        ad_id=f"w{i}",
        ctr=ctr,
        roas=2.0,
        hook_text=hook,
        cta=cta,
        video_features=features(duration_s, aspect),
    )


WINNERS = [
    winner(0, "Shop now", "Why wait?", 8.2, 9 / 16),
    winner(1, "shop  NOW ", "Why wait?", 7.9, 9 / 16),
    winner(2, "Shop now", "You need this", 15.1, 1.0),
    winner(3, "Learn more", "Why wait?", 8.0, 9 / 16, ctr=0.09),
]


def test_scales_round_trip():
    for x in (0.5, 6.0, 30.0, 120.0):
        assert unsquash(squash(x, DURATION_SCALE_S), DURATION_SCALE_S) == pytest.approx(x)
    assert unsquash(0.0, 1.0) == 0.0 and unsquash(1.0, 1.0) == float("inf")
    assert nearest_aspect(0.57, ["9:16", "1:1", "4:5"]) == "9:16"
    assert nearest_aspect(1.7, ["9:16", "1:1", "16:9"]) == "16:9"


def test_choices_come_from_the_winners():
    p = extract_patterns(WINNERS, aspects=("9:16", "4:5", "1:1", "16:9"))
    assert p.winners == 4
    assert [(c.value, c.weight) for c in p.ctas] == [("Shop now", 3.0), ("Learn more", 1.0)]
    assert "3 of 4 winners" in p.ctas[0].why and "CTR" in p.ctas[0].why
    assert [c.value for c in p.hooks] == ["Why wait?", "You need this"]
    assert [(c.value, c.weight) for c in p.aspects] == [("9:16", 3.0), ("1:1", 1.0)]
    assert [(c.value, c.weight) for c in p.durations_s] == [(8.0, 3.0), (15.0, 1.0)]
    assert p.cut_rate == pytest.approx(0.2)
    assert p.hook_motion == pytest.approx(squash(0.01, MOTION_SCALE))


def test_no_winners_no_choices():
    p = extract_patterns([])
    assert p.winners == 0 and not p.ctas and not p.hooks and p.cut_rate is None


def test_max_choices_bounds_each_gene():
    many = [winner(i, f"CTA {i}", f"hook {i}", 5 + i, 1.0) for i in range(10)]
    p = extract_patterns(many, max_choices=3)
    assert len(p.ctas) == len(p.hooks) == len(p.durations_s) == 3


def test_significant_insights_become_modifiers():
    insights = [
        {"feature": "cta", "value": "shop now", "lift": 0.8, "significant": True, "text": "t1"},
        {"feature": "hook_question", "value": "true", "lift": -0.5, "significant": True},
        {"feature": "duration", "value": "high", "threshold": 0.2, "lift": 9.0, "significant": 1},
        {"feature": "cta", "value": "buy", "lift": 2.0, "significant": False},
        {"feature": "template", "value": "ugc", "lift": 2.0, "significant": True},
    ]
    mods = insight_modifiers(insights)
    assert [(m.column, m.op, m.value) for m in mods] == [
        ("cta", "=", "shop now"),
        ("hook_question", "=", "true"),
        ("duration", ">", 0.2),
    ]
    assert [m.factor for m in mods] == [pytest.approx(1.8), 0.5, 4.0]  # bounded to 0.25..4
    assert mods[0].applies({"cta": "shop now"}) and not mods[0].applies({"cta": "learn more"})
    assert mods[1].applies({"hook_question": True}) and not mods[1].applies({"hook_question": 0})
    assert mods[2].applies({"duration": 0.25}) and not mods[2].applies({"duration": 0.2})
    assert mods[0].gene == "cta" and mods[1].gene == "caption" and mods[2].gene == "duration"


def test_dna_rules_become_modifiers():
    rules = [
        {"condition": "cta = shop now", "lift": 3.0, "text": "cta = shop now: 60% vs 20%"},
        {"condition": "aspect < 0.4", "lift": None},
        {"condition": "hook_motion ≥ 0.31", "lift": 0.5},
        {"condition": "template = ugc", "lift": 2.0},
        {"condition": "nonsense"},
    ]
    mods = dna_modifiers(rules)
    assert [(m.column, m.op, m.value, m.factor) for m in mods] == [
        ("cta", "=", "shop now", 3.0),
        ("aspect", "<", 0.4, 4.0),  # only winners meet it: the largest factor
        ("hook_motion", "≥", 0.31, 0.5),
    ]
    assert mods[0].why.startswith("creative DNA: cta = shop now")
    assert Modifier("aspect", "<", 0.4, 2.0, "").applies({"aspect": aspect_feature(9 / 16)})


def test_read_patterns_is_tenant_scoped(make_settings):
    settings = make_settings("sqlite")
    db = Database(settings.db_url)
    try:
        with db.session() as s:
            rows = [
                {
                    "tenant_id": tenant,
                    "ad_id": f"{tenant}-{i}",
                    "reason": "ctr",
                    "ctr": 0.05,
                    "roas": 1.0,
                    "impressions": 5000,
                    "hook_text": f"{tenant} hook",
                    "cta": f"{tenant} cta",
                    "template": None,
                    "video_features": features(6.0, 1.0),
                    "vector": [0.0],
                }
                for tenant in ("acme", "globex")
                for i in range(2)
            ]
            upsert_winners(s, rows, embedder="test")
            save_result(
                s,
                tenant_id="acme",
                cycle_id="c1",
                kind="creative_dna",
                payload={"rules": [{"condition": "cta = acme cta", "lift": 2.0}]},
                now=utcnow(),
            )
        with db.session() as s:
            acme = read_patterns(s, "acme", max_winners=10)
            one = read_patterns(s, "globex", max_winners=1)
        assert [c.value for c in acme.ctas] == ["acme cta"] and acme.winners == 2
        assert [(m.column, m.factor) for m in acme.modifiers] == [("cta", 2.0)]
        assert one.winners == 1 and [c.value for c in one.ctas] == ["globex cta"]
        assert not one.modifiers
    finally:
        db.dispose()
