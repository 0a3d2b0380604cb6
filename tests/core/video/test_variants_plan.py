"""The variant planner (pure): deterministic per seed, distinct plans that differ from the
source, winners' patterns followed, configured defaults without winners, overrides, the
clips and frame counts of each plan."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.learning.patterns import (
    Choice,
    Modifier,
    WinningPatterns,
    extract_patterns,
    normalise,
)
from core.video.config import get_video_config
from core.video.variants import (
    GENES,
    Overrides,
    PlanError,
    SourceProfile,
    assemble,
    caption_config,
    end_card_config,
    plan_variants,
    timeline_config,
)

CFG = get_video_config().variants
NO_WINNERS = extract_patterns([])


def scene_data(lengths: list[int], fps: float = 20.0, motions: list[float] | None = None) -> dict:
    scenes, start = [], 0
    motions = motions or [0.01 * (k + 1) for k in range(len(lengths))]
    for k, n in enumerate(lengths):
        scenes.append(
            {
                "start_frame": start,
                "end_frame": start + n - 1,
                "motion": motions[k],
                "brightness": 0.5,
                "contrast": 0.15,
            }
        )
        start += n
    return {"fps": fps, "frame_count": start, "scenes": scenes, "windows": []}


def source(lengths=(20, 20, 40), *, width=320, height=180, **kw) -> SourceProfile:
    return SourceProfile.from_scenes(
        scene_data(list(lengths)),
        width=width,
        height=height,
        max_hook_s=CFG.max_hook_s,
        hook_text=kw.get("hook_text", "Old hook"),
        cta=kw.get("cta", "Learn more"),
    )


def signature(plan) -> tuple:
    return (
        (plan.hook.start, plan.hook.end),
        normalise(plan.caption),
        normalise(plan.cta),
        plan.aspect,
        round(plan.duration_s, 3),
    )


def differing(a: tuple, b: tuple) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


SOURCE = source()
SOURCE_SIG = ((0, 20), "old hook", "learn more", "16:9", 4.0)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, CFG.max_n),
    lengths=st.lists(st.integers(8, 90), min_size=1, max_size=5),
)
def test_plans_are_deterministic_distinct_and_new(seed, n, lengths):
    src = source(lengths)
    try:
        plans = plan_variants(src, NO_WINNERS, n=n, seed=seed, cfg=CFG)
    except PlanError as exc:  # only when the source really allows fewer
        assert "distinct variants are possible" in str(exc)
        return
    again = plan_variants(src, NO_WINNERS, n=n, seed=seed, cfg=CFG)
    assert [p.to_dict() for p in plans] == [p.to_dict() for p in again]
    assert len(plans) == n and [p.index for p in plans] == list(range(1, n + 1))
    sigs = [signature(p) for p in plans]
    own = (
        (src.segments[0].start, src.segments[0].end),
        "old hook",
        "learn more",
        src.aspect,
        round(src.duration_s, 3),
    )
    for i, s in enumerate(sigs):
        assert differing(s, own) >= 1 and plans[i].changes
        assert set(plans[i].changes) <= set(GENES)
        assert all(differing(s, t) >= 1 for t in sigs[:i])
    for p in plans:  # clips: the opening first, inside the source, frames add up
        assert p.clips[0] == (p.hook.start, min(p.hook.end, p.hook.start + p.frames))
        assert all(0 <= a < b <= src.frame_count for a, b in p.clips)
        assert p.frames == sum(b - a for a, b in p.clips) - p.overlap * (len(p.clips) - 1)
        assert p.frames <= round(p.duration_s * src.fps)
        assert p.width % 2 == 0 and p.height % 2 == 0
        assert abs(p.width / p.height - _ratio(p.aspect)) < 0.03


def _ratio(aspect: str) -> float:
    w, h = aspect.split(":")
    return int(w) / int(h)


def test_min_changes_holds_when_the_source_allows_it():
    plans = plan_variants(SOURCE, NO_WINNERS, n=5, seed=3, cfg=CFG)
    sigs = [signature(p) for p in plans]
    for i, s in enumerate(sigs):
        assert differing(s, SOURCE_SIG) >= CFG.min_changes
        assert all(differing(s, t) >= CFG.min_changes for t in sigs[:i])


def test_different_seeds_explore_differently():
    runs = {tuple(signature(p) for p in plan_variants(SOURCE, NO_WINNERS, n=3, seed=s, cfg=CFG))
            for s in range(8)}  # fmt: skip
    assert len(runs) > 1


def test_without_winners_the_configured_defaults_are_used():
    plans = plan_variants(SOURCE, NO_WINNERS, n=4, seed=0, cfg=CFG)
    allowed_captions = {normalise(h) for h in [*CFG.hooks, "Old hook"]}
    allowed_ctas = {normalise(c) for c in [*CFG.ctas, "Learn more"]}
    for p in plans:
        assert normalise(p.caption) in allowed_captions
        assert normalise(p.cta) in allowed_ctas
        assert p.aspect in {*CFG.aspects, "16:9"}
        assert "configured default" in p.why["cta"] or "source's own" in p.why["cta"]
        assert p.transition == CFG.transition and p.why["transition"] == "configured default"


def test_winning_patterns_are_followed():
    patterns = WinningPatterns(
        winners=9,
        hooks=(Choice("Why pay more?", 9.0, "the hook of 9 of 9 winners"),),
        ctas=(Choice("Claim your discount", 9.0, "the CTA of 9 of 9 winners"),),
        aspects=(Choice("4:5", 9.0, "9 of 9 winners are 4:5"),),
        cut_rate=1.5,
    )
    best = plan_variants(
        SOURCE, patterns, n=1, seed=0, cfg=CFG.model_copy(update={"exploration": 0})
    )
    p = best[0]
    assert (p.caption, p.cta, p.aspect) == ("Why pay more?", "Claim your discount", "4:5")
    assert "9 of 9 winners" in p.why["cta"] and "9 of 9 winners" in p.why["caption"]
    assert p.transition == "cut" and "cut often" in p.why["transition"] and p.overlap == 0
    assert p.reframe and (p.width, p.height) == (144, 180)


def test_modifiers_move_the_choice():
    plain = plan_variants(
        SOURCE, NO_WINNERS, n=1, seed=0, cfg=CFG.model_copy(update={"exploration": 0})
    )[0]
    boosted = WinningPatterns(
        winners=0,
        modifiers=(Modifier("cta", "=", "get yours today", 4.0, "creative DNA: cta = ..."),),
    )
    p = plan_variants(SOURCE, boosted, n=1, seed=0, cfg=CFG.model_copy(update={"exploration": 0}))[
        0
    ]
    assert plain.cta != "Get yours today" and p.cta == "Get yours today"
    assert "×4.00 creative DNA" in p.why["cta"]


def test_overrides_replace_the_candidates():
    o = Overrides(hooks=("Only this",), ctas=("Buy", "Try"), aspects=("1:1",), transition="cut")
    plans = plan_variants(SOURCE, NO_WINNERS, n=2, seed=0, cfg=CFG, overrides=o)
    assert {p.caption for p in plans} == {"Only this"} and {p.aspect for p in plans} == {"1:1"}
    assert {p.cta for p in plans} <= {"Buy", "Try"}
    assert all(p.transition == "cut" and "asked for" in p.why["caption"] for p in plans)


def test_too_few_distinct_variants_is_a_plan_error():
    one_scene = source((30,))  # one opening, one length
    o = Overrides(hooks=("A",), ctas=("B",), aspects=("1:1",))
    assert len(plan_variants(one_scene, NO_WINNERS, n=1, seed=0, cfg=CFG, overrides=o)) == 1
    with pytest.raises(PlanError, match="only 1 distinct variants"):
        plan_variants(one_scene, NO_WINNERS, n=2, seed=0, cfg=CFG, overrides=o)
    with pytest.raises(PlanError, match="n must be between"):
        plan_variants(SOURCE, NO_WINNERS, n=CFG.max_n + 1, seed=0, cfg=CFG)


def test_a_scene_too_short_to_hold_a_transition_never_opens():
    src = source((40, 3, 37))  # a 3-frame flash between two scenes
    for seed in range(5):
        for p in plan_variants(src, NO_WINNERS, n=4, seed=seed, cfg=CFG):
            assert p.hook.end - p.hook.start >= 2 * CFG.transition_s * src.fps


def test_long_scenes_are_split_into_openings():
    src = source((150,))  # 7.5 s, max_hook_s 3: three pieces of 2.5 s
    assert [(s.start, s.end) for s in src.segments] == [(0, 50), (50, 100), (100, 150)]


def test_assemble_reaches_the_target_exactly():
    src = source((20, 20, 40))
    hook = src.segments[1]  # frames 20..40
    clips, frames = assemble(src, hook, target_s=3.0, overlap=5, min_clip=6)
    assert clips[0] == (20, 40) and frames == 60
    assert frames == sum(b - a for a, b in clips) - 5 * (len(clips) - 1)
    clips, frames = assemble(src, hook, target_s=0.5, overlap=5, min_clip=6)
    assert clips == ((20, 30),) and frames == 10


def test_operation_configs_of_a_plan_validate():
    from core.video import parse_config

    for p in plan_variants(SOURCE, NO_WINNERS, n=3, seed=1, cfg=CFG):
        parse_config("timeline", timeline_config(p))
        parse_config("caption", caption_config(p, CFG))
        card = end_card_config(p, CFG, logo="asset:" + "0" * 32)
        parse_config("motion_graphics", card)
        assert card["layers"][0]["cta"] == p.cta
        assert caption_config(p, CFG)["end_s"] == pytest.approx(p.hook_s)
