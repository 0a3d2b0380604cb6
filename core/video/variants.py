"""The variant planner: N new versions of a creative that follow what the tenant's winners
share, each a different opening clip, hook caption, CTA end card, aspect ratio or length.

Pure (no files, no Ray, no database). Inputs: the source's profile (``scene_detect`` data:
scenes, per-scene and per-window motion / brightness / contrast, and its copy), the
:class:`~core.learning.patterns.WinningPatterns` and ``variants`` in ``configs/video.yaml``.

Each gene has candidates with weights: the winners' values (weight: how many winners use
it), the configured defaults (``default_weight``), the source's own value, or what the request
asked for (overrides replace the others); opening clips are pieces of the source's scenes of
at most ``max_hook_s``, weighted by their hook score. Every candidate is multiplied by the
patterns' modifiers it meets (insights, creative DNA) and the best ``max_candidates`` kept.
A plan is one value per gene, scored by the sum of ``log(weight / best weight)`` plus Gumbel
noise of scale ``exploration`` (seeded). Plans are picked greedily, best first, each
differing from the source and from every plan already picked in at least ``min_changes``
genes (1 when the source allows no more), with ``diversity`` subtracted per gene shared with
a picked plan. Same inputs and seed, same plans.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.domain.video_scale import DURATION_SCALE_S, MOTION_SCALE, aspect_feature, squash
from core.learning.cross_learning import creative_attributes
from core.learning.patterns import Gene, WinningPatterns, nearest_aspect, normalise
from core.video.config import VariantsDefaults
from core.video.errors import VideoError
from core.video.frames import parse_aspect
from core.video.io import even
from core.video.ops.hook_analysis import hook_score
from core.video.ops.smart_crop import crop_size

GENES: tuple[Gene, ...] = ("hook", "caption", "cta", "aspect", "duration")
STANDARD_ASPECTS = ("9:16", "4:5", "1:1", "16:9")
ASPECT_TOLERANCE = 0.01  # relative: a source this close to a ratio already has it


class PlanError(VideoError):
    """No (or not enough) distinct variants can be planned from these inputs."""


@dataclass(frozen=True)
class Segment:
    """A candidate opening: source frames ``[start, end)`` inside scene ``scene``."""

    scene: int
    start: int
    end: int
    motion: float
    brightness: float
    contrast: float
    hook_score: float

    def label(self, fps: float) -> str:
        return f"scene {self.scene} at {self.start / fps:.2f}–{self.end / fps:.2f} s"


@dataclass(frozen=True)
class SourceProfile:
    """What the planner knows of the source video."""

    width: int
    height: int
    fps: float
    frame_count: int
    scenes: tuple[tuple[int, int], ...]  # [start, end) frames
    segments: tuple[Segment, ...]  # candidate openings, in source order
    hook_text: str | None = None
    cta: str | None = None

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps

    @property
    def aspect(self) -> str:
        return nearest_aspect(self.width / self.height, STANDARD_ASPECTS)

    @classmethod
    def from_scenes(
        cls,
        data: Mapping[str, Any],
        *,
        width: int,
        height: int,
        max_hook_s: float,
        hook_text: str | None = None,
        cta: str | None = None,
    ) -> SourceProfile:
        """From ``scene_detect`` data (``fps``, ``frame_count``, ``scenes``, ``windows``):
        scenes longer than ``max_hook_s`` are split into equal pieces, each with the mean
        statistics of the windows it covers and its hook score."""
        fps, n = float(data["fps"]), int(data["frame_count"])
        windows = data.get("windows") or []
        scenes = tuple((int(s["start_frame"]), int(s["end_frame"]) + 1) for s in data["scenes"])
        longest = max(1, int(round(max_hook_s * fps)))
        segments = []
        for k, (a, b) in enumerate(scenes):
            pieces = max(1, math.ceil((b - a) / longest))
            edges = [a + (b - a) * i // pieces for i in range(pieces + 1)]
            for s, e in itertools.pairwise(edges):
                stats = _window_stats(windows, s, e, data["scenes"][k])
                score, _ = hook_score(cut_rate=0.0, **stats)
                segments.append(Segment(k, s, e, **stats, hook_score=score))
        return cls(width, height, fps, n, scenes, tuple(segments), hook_text, cta)


def _window_stats(
    windows: Sequence[Mapping[str, Any]], a: int, b: int, scene: Mapping[str, Any]
) -> dict[str, float]:
    """Frame-weighted mean statistics of the windows overlapping ``[a, b)`` (the scene's own
    when no window is reported)."""
    keys = ("motion", "brightness", "contrast")
    total, sums = 0, dict.fromkeys(keys, 0.0)
    for w in windows:
        overlap = min(b, int(w["end_frame"]) + 1) - max(a, int(w["start_frame"]))
        if overlap > 0:
            total += overlap
            for key in keys:
                sums[key] += overlap * float(w[key])
    if total == 0:
        return {key: float(scene.get(key, 0.0)) for key in keys}
    return {key: sums[key] / total for key in keys}


@dataclass(frozen=True)
class Candidate:
    """One value of a gene, its weight after modifiers, and why."""

    value: Any
    weight: float
    why: list[str]


@dataclass(frozen=True)
class Overrides:
    """Values the request asks for, replacing a gene's candidates (empty: no override)."""

    hooks: tuple[str, ...] = ()
    ctas: tuple[str, ...] = ()
    aspects: tuple[str, ...] = ()
    durations_s: tuple[float, ...] = ()
    transition: str | None = None

    def of(self, gene: Gene) -> tuple[Any, ...]:
        return {
            "caption": self.hooks,
            "cta": self.ctas,
            "aspect": self.aspects,
            "duration": self.durations_s,
        }.get(gene, ())


@dataclass(frozen=True)
class VariantPlan:
    """One variant: the gene values, the clips and sizes they imply, and why each was chosen.

    ``clips``: source frames ``[in, out)`` in output order (the opening first); ``frames``:
    the output's frame count (clips minus transition overlaps); ``changes``: the genes in
    which it differs from the source.
    """

    index: int
    hook: Segment
    caption: str
    cta: str
    aspect: str
    duration_s: float
    transition: str
    overlap: int  # frames each transition overlaps (0 for cuts)
    clips: tuple[tuple[int, int], ...]
    frames: int
    fps: float
    width: int
    height: int
    reframe: bool  # the source must be cropped to the aspect first
    end_card_s: float
    score: float
    changes: tuple[str, ...]
    why: dict[str, str] = field(default_factory=dict)

    @property
    def hook_s(self) -> float:
        """Seconds the opening clip is on screen (as the caption shows)."""
        return (self.clips[0][1] - self.clips[0][0]) / self.fps

    @property
    def output_duration_s(self) -> float:
        return self.frames / self.fps

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what changed, the values, the clips in seconds, and why."""
        return {
            "index": self.index,
            "changes": list(self.changes),
            "hook": {
                **{
                    k: round(v, 5) if isinstance(v, float) else v
                    for k, v in asdict(self.hook).items()
                },
                "start_s": round(self.hook.start / self.fps, 3),
                "end_s": round(self.hook.end / self.fps, 3),
            },
            "caption": self.caption,
            "cta": self.cta,
            "aspect": self.aspect,
            "target_duration_s": round(self.duration_s, 3),
            "duration_s": round(self.output_duration_s, 3),
            "frames": self.frames,
            "width": self.width,
            "height": self.height,
            "transition": self.transition,
            "clips": [
                {"in_s": round(a / self.fps, 4), "out_s": round(b / self.fps, 4)}
                for a, b in self.clips
            ],
            "end_card_s": round(self.end_card_s, 3),
            "score": round(self.score, 4),
            "why": self.why,
        }


# --- candidates ---------------------------------------------------------------------------
def _attributes(gene: Gene, values: Sequence[Any]) -> list[dict[str, Any]]:
    """The cross-learner / ``creative_features`` attributes of each candidate value."""
    if gene == "caption":
        frame = creative_attributes(pd.DataFrame({"hook_text": list(values)}))
        cols = ["hook_question", "hook_has_number", "hook_you", "hook_length_bucket"]
        return [{c: row[c] for c in cols} for _, row in frame.iterrows()]
    if gene == "cta":
        return [{"cta": normalise(v)} for v in values]
    if gene == "duration":
        return [{"duration": squash(float(v), DURATION_SCALE_S)} for v in values]
    if gene == "aspect":
        return [{"aspect": aspect_feature(parse_aspect(v))} for v in values]
    return [
        {"hook_motion": squash(s.motion, MOTION_SCALE), "hook_brightness": s.brightness}
        for s in values
    ]


def _seed_candidates(
    gene: Gene,
    source: SourceProfile,
    patterns: WinningPatterns,
    overrides: Overrides,
    cfg: VariantsDefaults,
    max_duration_s: float,
) -> list[Candidate]:
    """A gene's candidates before modifiers: overrides alone, else winners', defaults and the
    source's own value, merged by value (weights added, reasons kept)."""
    if gene == "hook":  # openings long enough to hold a transition out of them
        shortest = max(cfg.min_clip_s, 2 * cfg.transition_s) * source.fps
        usable = [s for s in source.segments if s.end - s.start >= shortest]
        return [
            Candidate(s, 1.0 + s.hook_score / 100, [f"hook score {s.hook_score:.0f}/100"])
            for s in usable or source.segments
        ]
    found: dict[Any, Candidate] = {}

    def add(value: Any, weight: float, why: str) -> None:
        key = normalise(value) if isinstance(value, str) else value
        if key in found:
            c = found[key]
            found[key] = Candidate(c.value, c.weight + weight, [*c.why, why])
        else:
            found[key] = Candidate(value, weight, [why])

    asked = overrides.of(gene)
    if asked:
        for v in asked:
            add(v, 1.0, "asked for in the request")
    else:
        for c in patterns.choices(gene):
            add(c.value, c.weight, c.why)
        defaults = {
            "caption": cfg.hooks,
            "cta": cfg.ctas,
            "aspect": cfg.aspects,
            "duration": cfg.durations_s,
        }[gene]
        for v in defaults:
            add(v, cfg.default_weight, "configured default")
        own = {
            "caption": source.hook_text,
            "cta": source.cta,
            "aspect": source.aspect,
            "duration": round(source.duration_s, 3),
        }[gene]
        if own:
            add(own, cfg.default_weight, "the source's own")
    out = list(found.values())
    if gene == "duration":  # the source's length bounds every duration
        merged: dict[float, Candidate] = {}
        for c in out:
            if float(c.value) < cfg.min_duration_s and not asked:
                continue
            value = round(min(float(c.value), max_duration_s), 3)
            why = c.why if value == float(c.value) else [
                f"{w} (cut to the source's {value:g} s)" for w in c.why
            ]  # fmt: skip
            prev = merged.get(value)
            merged[value] = (
                Candidate(value, c.weight, why)
                if prev is None
                else Candidate(value, prev.weight + c.weight, [*prev.why, *why])
            )
        out = list(merged.values()) or [
            Candidate(round(max_duration_s, 3), cfg.default_weight, ["the source's own"])
        ]
    return out


def candidates(
    gene: Gene,
    source: SourceProfile,
    patterns: WinningPatterns,
    overrides: Overrides,
    cfg: VariantsDefaults,
) -> list[Candidate]:
    """A gene's best ``max_candidates`` candidates, after the patterns' modifiers."""
    seeds = _seed_candidates(gene, source, patterns, overrides, cfg, source.duration_s)
    if not seeds:
        return []
    mods = patterns.modifiers_of(gene)
    attrs = _attributes(gene, [c.value for c in seeds])
    out = []
    for c, a in zip(seeds, attrs, strict=True):
        weight, why = c.weight, list(c.why)
        for m in mods:
            if m.applies(a):
                weight *= m.factor
                why.append(f"×{m.factor:.2f} {m.why}")
        out.append(Candidate(c.value, weight, why))
    out.sort(key=lambda c: (-c.weight, str(c.value)))
    return out[: cfg.max_candidates]


# --- assembling one plan ------------------------------------------------------------------
def output_size(source: SourceProfile, aspect: str) -> tuple[int, int, bool]:
    """The variant's ``(width, height)`` for ``aspect`` (the largest crop of the source,
    never scaled up) and whether the source must be reframed."""
    ratio = parse_aspect(aspect)
    w, h = source.width - source.width % 2, source.height - source.height % 2
    if abs(w / h / ratio - 1) <= ASPECT_TOLERANCE:
        return w, h, False
    cw, ch = crop_size(source.width, source.height, ratio)
    return even(cw), even(ch), True


def assemble(
    source: SourceProfile, hook: Segment, target_s: float, overlap: int, min_clip: int
) -> tuple[tuple[tuple[int, int], ...], int]:
    """Clips (source frames ``[in, out)``) of a variant: the opening first, then the rest of
    the source in its order, cut where the target length is reached. Returns the clips and
    the output's frame count (clips minus ``overlap`` per joint)."""
    target = max(1, int(round(target_s * source.fps)))
    shortest = max(min_clip, 2 * overlap + 1)
    rest = [(0, hook.start), (hook.end, source.frame_count)]
    clips = [(hook.start, min(hook.end, hook.start + target))]
    total = clips[0][1] - clips[0][0]
    for a, b in rest:
        room = target - total + overlap  # frames this clip may add, its overlap included
        if room < shortest or b - a < shortest:
            continue
        end = min(b, a + room)
        if end - a < shortest:
            continue
        clips.append((a, end))
        total += end - a - overlap
    return tuple(clips), total


def _transition(
    patterns: WinningPatterns, overrides: Overrides, cfg: VariantsDefaults
) -> tuple[str, str]:
    if overrides.transition is not None:
        return overrides.transition, "asked for in the request"
    if patterns.cut_rate is not None and patterns.cut_rate >= cfg.cut_rate_for_cuts:
        return "cut", (
            f"winners cut often (median {patterns.cut_rate:.2f} cuts/s ≥ "
            f"{cfg.cut_rate_for_cuts:g}): hard cuts"
        )
    if patterns.cut_rate is not None:
        return cfg.transition, (
            f"winners cut rarely (median {patterns.cut_rate:.2f} cuts/s): {cfg.transition}"
        )
    return cfg.transition, "configured default"


def _source_key(gene: Gene, source: SourceProfile) -> Any:
    return {
        "hook": (source.segments[0].start, source.segments[0].end) if source.segments else None,
        "caption": normalise(source.hook_text) or None,
        "cta": normalise(source.cta) or None,
        "aspect": source.aspect,
        "duration": round(source.duration_s, 3),
    }[gene]


def _key(gene: Gene, value: Any) -> Any:
    if gene == "hook":
        return (value.start, value.end)
    if gene in ("caption", "cta"):
        return normalise(value)
    if gene == "duration":
        return round(float(value), 3)
    return value


def plan_variants(
    source: SourceProfile,
    patterns: WinningPatterns,
    *,
    n: int,
    seed: int,
    cfg: VariantsDefaults,
    overrides: Overrides | None = None,
    transition_names: Sequence[str] = (),
) -> list[VariantPlan]:
    """``n`` distinct variant plans, best first (see the module docstring).

    Raises :class:`PlanError` when the source has no scene, a gene has no candidate, or fewer
    than ``n`` distinct plans exist.
    """
    if not 1 <= n <= cfg.max_n:
        raise PlanError(f"n must be between 1 and {cfg.max_n}")
    if not source.segments:
        raise PlanError("the source has no scene to open with")
    overrides = overrides or Overrides()
    transition, transition_why = _transition(patterns, overrides, cfg)
    if transition != "cut" and transition_names and transition not in transition_names:
        raise PlanError(f"unknown transition {transition!r}")
    pools = {g: candidates(g, source, patterns, overrides, cfg) for g in GENES}
    empty = [g for g, c in pools.items() if not c]
    if empty:
        raise PlanError(f"no candidate for {', '.join(empty)}")
    combos = np.array(list(itertools.product(*(range(len(pools[g])) for g in GENES))))
    logw = np.column_stack(
        [
            np.log(np.array([c.weight for c in pools[g]]) / max(c.weight for c in pools[g]))[
                combos[:, j]
            ]
            for j, g in enumerate(GENES)
        ]
    )
    base = logw.sum(axis=1)
    rng = np.random.default_rng(seed)
    if cfg.exploration > 0:
        base = base + cfg.exploration * rng.gumbel(size=len(base))
    keys = [[_key(g, c.value) for c in pools[g]] for g in GENES]
    own = [_source_key(g, source) for g in GENES]
    # (combos, genes): does this combo keep the source's value of the gene?
    same_as_source = np.column_stack(
        [
            np.array([k == own[j] for k in keys[j]], dtype=bool)[combos[:, j]]
            for j in range(len(GENES))
        ]
    )
    changed = len(GENES) - same_as_source.sum(axis=1)
    picked: list[int] = []
    need = min(cfg.min_changes, len(GENES))
    while need >= 1 and len(picked) < n:
        picked = _pick(combos, base, changed, need, n, cfg.diversity)
        if len(picked) < n:
            need -= 1
    if len(picked) < n:
        raise PlanError(
            f"only {len(picked)} distinct variants are possible for this source and these "
            f"options; ask for at most {len(picked)}",
        )
    overlap = 0 if transition == "cut" else max(1, int(round(cfg.transition_s * source.fps)))
    min_clip = max(1, int(round(cfg.min_clip_s * source.fps)))
    plans = []
    for index, c in enumerate(picked, start=1):
        values = {g: pools[g][combos[c, j]] for j, g in enumerate(GENES)}
        hook: Segment = values["hook"].value
        target = float(values["duration"].value)
        clips, frames = assemble(source, hook, target, overlap, min_clip)
        width, height, reframe = output_size(source, values["aspect"].value)
        length = frames / source.fps
        why = {g: "; ".join(values[g].why) for g in GENES}
        why["hook"] = f"{hook.label(source.fps)}: {why['hook']}"
        why["transition"] = transition_why
        plans.append(
            VariantPlan(
                index=index,
                hook=hook,
                caption=str(values["caption"].value),
                cta=str(values["cta"].value),
                aspect=str(values["aspect"].value),
                duration_s=target,
                transition=transition,
                overlap=overlap if len(clips) > 1 else 0,
                clips=clips,
                frames=frames,
                fps=source.fps,
                width=width,
                height=height,
                reframe=reframe,
                end_card_s=min(cfg.end_card.duration_s, cfg.end_card.max_share * length),
                score=float(logw[c].sum()),
                changes=tuple(g for j, g in enumerate(GENES) if not same_as_source[c, j]),
                why=why,
            )
        )
    return plans


def _pick(
    combos: np.ndarray, score: np.ndarray, changed: np.ndarray, need: int, n: int, diversity: float
) -> list[int]:
    """Greedy: the best-scoring combo (less ``diversity`` per gene shared with each picked
    one) that differs from the source and every picked combo in ``need`` genes or more."""
    ok = changed >= need
    penalty = np.zeros(len(combos))
    picked: list[int] = []
    while len(picked) < n and ok.any():
        adjusted = np.where(ok, score - penalty, -np.inf)
        best = int(np.argmax(adjusted))
        picked.append(best)
        shared = (combos == combos[best]).sum(axis=1)
        ok &= combos.shape[1] - shared >= need
        penalty += diversity * shared
    return picked


# --- operation configs of a plan ----------------------------------------------------------
def reframe_config(aspect: str) -> dict[str, Any]:
    """``smart_crop`` of the source to ``aspect`` (shared by the plans of that aspect)."""
    return {"aspect": aspect}


def timeline_config(plan: VariantPlan) -> dict[str, Any]:
    """``timeline``: the clips in order, the joint, the output size (centre fill: a no-op
    after ``smart_crop``)."""
    joint: str | dict[str, Any] = "cut"
    if plan.transition != "cut" and plan.overlap:
        joint = {"type": plan.transition, "duration_s": plan.overlap / plan.fps}
    return {
        "clips": [{"in": a / plan.fps, "out": b / plan.fps} for a, b in plan.clips],
        "transition": joint,
        "output": {"width": plan.width, "height": plan.height, "mode": "fill"},
    }


def caption_config(plan: VariantPlan, cfg: VariantsDefaults) -> dict[str, Any]:
    """``caption``: the hook text over the opening clip."""
    c = cfg.caption
    return {
        "text": plan.caption,
        "start_s": 0.0,
        "end_s": plan.hook_s,
        "position": c.position,
        "font_scale": c.font_scale,
        "box_opacity": c.box_opacity,
    }


def end_card_config(
    plan: VariantPlan, cfg: VariantsDefaults, logo: str | dict[str, str] | None = None
) -> dict[str, Any]:
    """``motion_graphics``: the CTA end card over the last ``end_card_s`` seconds."""
    e = cfg.end_card
    card: dict[str, Any] = {
        "type": "end_card",
        "cta": plan.cta,
        "duration_s": plan.end_card_s,
        "fade_s": min(0.4, plan.end_card_s / 2),
        "background": list(e.background),
        "background_opacity": e.background_opacity,
        "font_scale": e.font_scale,
    }
    if logo is not None:
        card["logo"] = logo
    return {"layers": [card]}
