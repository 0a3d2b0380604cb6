"""What the tenant's winners share, as weighted choices a variant generator can follow.

Inputs: the winners (rows of the winner memory: copy and ``creative_features`` vector), the
cross-learner's latest insights and the latest creative DNA (``GET /api/ml/insights`` and
``GET /api/ml/creative-dna`` payloads). Out of them:

- choices per gene, each ``(value, weight, why)``: the CTAs and hook texts winners use
  (weight: how many winners use it), their aspect ratios (nearest of ``aspects``) and
  durations (rounded to whole seconds), read back from the feature vector;
- the winners' median cut rate (cuts per second) and hook motion (feature scale);
- modifiers: significant insights and DNA rules turned into a factor on every candidate that
  has the attribute (``cta = shop now`` ×1.8, ``hook_question = true`` ×0.6,
  ``duration > 0.2`` ×1.3), so defaults and the source's own values are weighed by the same
  evidence. Attributes are those of the cross-learner
  (:func:`core.learning.cross_learning.creative_attributes`) and ``creative_features``
  names; rules on attributes a variant cannot change (template, colour) are left out.

:func:`extract_patterns` is pure; :func:`read_patterns` reads its inputs from the database
(``winners``, ``learning_results``). No Ray.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sqlalchemy.orm import Session

from core.db import learning as learning_db
from core.db import winners as winners_db
from core.domain.video_scale import (
    CUT_RATE_SCALE,
    DURATION_SCALE_S,
    aspect_from_feature,
    unsquash,
)

Gene = Literal["hook", "caption", "cta", "aspect", "duration"]
# creative_features positions read here (core.video.ops.creative_features.FEATURE_NAMES)
DURATION, ASPECT, CUT_RATE, HOOK_MOTION = 0, 1, 11, 12
# which gene an attribute describes; other attributes cannot be changed by a variant
ATTRIBUTE_GENE: dict[str, Gene] = {
    "hook_question": "caption",
    "hook_has_number": "caption",
    "hook_you": "caption",
    "hook_length_bucket": "caption",
    "cta": "cta",
    "duration": "duration",
    "aspect": "aspect",
    "hook_motion": "hook",
    "hook_brightness": "hook",
}
FACTOR_BOUNDS = (0.25, 4.0)
_CONDITION = re.compile(r"^(?P<column>\S+) (?P<op>=|≥|<) (?P<value>.+)$")


@dataclass(frozen=True)
class Choice:
    """A candidate value of a gene: ``weight`` > 0, ``why`` in words."""

    value: str | float
    weight: float
    why: str


@dataclass(frozen=True)
class Modifier:
    """A factor on candidates whose attribute ``column`` meets ``op value``."""

    column: str
    op: Literal["=", ">", "≥", "<"]
    value: str | float
    factor: float
    why: str

    @property
    def gene(self) -> Gene:
        return ATTRIBUTE_GENE[self.column]

    def applies(self, attributes: Mapping[str, Any]) -> bool:
        """Whether a candidate with these attributes meets the condition."""
        got = attributes.get(self.column)
        if got is None:
            return False
        if self.op == "=":
            text = ("true" if got else "false") if isinstance(got, bool) else str(got)
            return text.strip().lower() == str(self.value)
        x, v = float(got), float(self.value)
        return x > v if self.op == ">" else x >= v if self.op == "≥" else x < v


@dataclass(frozen=True)
class WinnerFacts:
    """One winner as the patterns need it (a ``winners`` row)."""

    ad_id: str
    ctr: float
    roas: float
    hook_text: str | None = None
    cta: str | None = None
    video_features: Sequence[float] | None = None


@dataclass(frozen=True)
class WinningPatterns:
    """Choices per gene (best first), medians, modifiers and the number of winners read."""

    winners: int
    hooks: tuple[Choice, ...] = ()
    ctas: tuple[Choice, ...] = ()
    aspects: tuple[Choice, ...] = ()
    durations_s: tuple[Choice, ...] = ()
    cut_rate: float | None = None  # cuts per second, median over winners
    hook_motion: float | None = None  # creative_features scale, median over winners
    modifiers: tuple[Modifier, ...] = field(default_factory=tuple)

    def choices(self, gene: Gene) -> tuple[Choice, ...]:
        return {
            "caption": self.hooks,
            "cta": self.ctas,
            "aspect": self.aspects,
            "duration": self.durations_s,
        }.get(gene, ())

    def modifiers_of(self, gene: Gene) -> list[Modifier]:
        return [m for m in self.modifiers if m.gene == gene]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (weights and factors to 4 decimals)."""

        def choices(cs: Iterable[Choice]) -> list[dict[str, Any]]:
            return [{**asdict(c), "weight": round(c.weight, 4)} for c in cs]

        return {
            "winners": self.winners,
            "hooks": choices(self.hooks),
            "ctas": choices(self.ctas),
            "aspects": choices(self.aspects),
            "durations_s": choices(self.durations_s),
            "cut_rate": None if self.cut_rate is None else round(self.cut_rate, 4),
            "hook_motion": None if self.hook_motion is None else round(self.hook_motion, 4),
            "modifiers": [{**asdict(m), "factor": round(m.factor, 4)} for m in self.modifiers],
        }


def normalise(text: str | None) -> str:
    """The comparison form of copy: stripped, lower case, inner spaces collapsed."""
    return " ".join((text or "").split()).lower()


def nearest_aspect(ratio: float, labels: Sequence[str]) -> str:
    """The label (``"W:H"``) whose ratio is nearest ``ratio`` on a log scale."""

    def distance(label: str) -> float:
        w, _, h = label.partition(":")
        return abs(math.log(ratio) - math.log(float(w) / float(h)))

    return min(labels, key=distance)


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _copy_choices(
    winners: Sequence[WinnerFacts], text_of: str, noun: str, limit: int
) -> tuple[Choice, ...]:
    """Distinct copy (by :func:`normalise`) that winners use, most used first."""
    groups: dict[str, list[WinnerFacts]] = {}
    spelling: dict[str, dict[str, int]] = {}
    for w in winners:
        raw = getattr(w, text_of)
        key = normalise(raw)
        if not key:
            continue
        groups.setdefault(key, []).append(w)
        seen = spelling.setdefault(key, {})
        seen[raw.strip()] = seen.get(raw.strip(), 0) + 1
    ranked = sorted(
        groups.items(), key=lambda kv: (-len(kv[1]), -statistics.fmean(w.ctr for w in kv[1]), kv[0])
    )
    out = []
    for key, ws in ranked[:limit]:
        text = max(spelling[key].items(), key=lambda kv: (kv[1], kv[0]))[0]
        ctr, roas = statistics.fmean(w.ctr for w in ws), statistics.fmean(w.roas for w in ws)
        why = (
            f"{noun} of {len(ws)} of {len(winners)} winners (mean CTR {_pct(ctr)}, ROAS {roas:.2f})"
        )
        out.append(Choice(text, float(len(ws)), why))
    return tuple(out)


def _feature(w: WinnerFacts, i: int) -> float | None:
    v = w.video_features
    if v is None or len(v) <= i or not math.isfinite(float(v[i])):
        return None
    return float(v[i])


def _aspect_choices(
    winners: Sequence[WinnerFacts], labels: Sequence[str], limit: int
) -> tuple[Choice, ...]:
    counts: dict[str, int] = {}
    for w in winners:
        x = _feature(w, ASPECT)
        if x is not None and 0 < x < 1:
            label = nearest_aspect(aspect_from_feature(x), labels)
            counts[label] = counts.get(label, 0) + 1
    known = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return tuple(
        Choice(label, float(n), f"{n} of {known} winners with video are {label}")
        for label, n in ranked
    )


def _duration_choices(winners: Sequence[WinnerFacts], limit: int) -> tuple[Choice, ...]:
    seconds = [unsquash(x, DURATION_SCALE_S) for w in winners if (x := _feature(w, DURATION))]
    seconds = [s for s in seconds if math.isfinite(s) and s > 0]
    counts: dict[float, int] = {}
    for s in seconds:
        counts[float(max(1, round(s)))] = counts.get(float(max(1, round(s))), 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return tuple(
        Choice(s, float(n), f"{n} of {len(seconds)} winners with video run about {s:g} s")
        for s, n in ranked
    )


def _median(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _factor(x: float) -> float:
    lo, hi = FACTOR_BOUNDS
    return min(max(x, lo), hi)


def insight_modifiers(insights: Iterable[Mapping[str, Any]]) -> list[Modifier]:
    """Significant cross-learner insights on attributes a variant can change. An insight's
    ``lift`` is relative (0.8 = +80%): factor ``1 + lift``; a numeric ``high`` level applies
    above its ``threshold``."""
    out = []
    for ins in insights:
        column = str(ins.get("feature", ""))
        if column not in ATTRIBUTE_GENE or not ins.get("significant"):
            continue
        lift = float(ins.get("lift", 0.0))
        value, threshold = str(ins.get("value", "")), ins.get("threshold")
        why = f"insight: {ins.get('text') or f'{column} = {value}: lift {lift:+.0%}'}"
        if value == "high" and threshold is not None:
            out.append(Modifier(column, ">", float(threshold), _factor(1 + lift), why))
        else:
            out.append(Modifier(column, "=", normalise(value), _factor(1 + lift), why))
    return out


def dna_modifiers(rules: Iterable[Mapping[str, Any]]) -> list[Modifier]:
    """Creative-DNA rules on attributes a variant can change. A rule's ``lift`` is a ratio
    (2.0 = winners meet it twice as often as the rest; none: only winners do): the factor."""
    out = []
    for rule in rules:
        m = _CONDITION.match(str(rule.get("condition", "")))
        if m is None or m["column"] not in ATTRIBUTE_GENE:
            continue
        lift = rule.get("lift")
        factor = _factor(FACTOR_BOUNDS[1] if lift is None else float(lift))
        why = f"creative DNA: {rule.get('text') or rule.get('condition')}"
        value: str | float = m["value"]
        if m["op"] == "=":
            value = normalise(str(value))
        else:
            try:
                value = float(value)
            except ValueError:
                continue
        out.append(Modifier(m["column"], m["op"], value, factor, why))  # type: ignore[arg-type]
    return out


def extract_patterns(
    winners: Sequence[WinnerFacts],
    *,
    insights: Mapping[str, Any] | None = None,
    dna: Mapping[str, Any] | None = None,
    aspects: Sequence[str] = ("9:16", "4:5", "1:1", "16:9"),
    max_choices: int = 4,
) -> WinningPatterns:
    """Patterns of ``winners`` (any order) plus the modifiers of the latest ``insights``
    payload (``{"insights": [...]}``) and ``dna`` payload (``{"rules": [...]}``)."""
    modifiers = [
        *insight_modifiers((insights or {}).get("insights") or ()),
        *dna_modifiers((dna or {}).get("rules") or ()),
    ]
    cut_rate = _median(_feature(w, CUT_RATE) for w in winners)
    return WinningPatterns(
        winners=len(winners),
        hooks=_copy_choices(winners, "hook_text", "the hook", max_choices),
        ctas=_copy_choices(winners, "cta", "the CTA", max_choices),
        aspects=_aspect_choices(winners, aspects, max_choices),
        durations_s=_duration_choices(winners, max_choices),
        cut_rate=None if cut_rate is None else unsquash(cut_rate, CUT_RATE_SCALE),
        hook_motion=_median(_feature(w, HOOK_MOTION) for w in winners),
        modifiers=tuple(modifiers),
    )


def read_patterns(
    session: Session,
    tenant_id: str,
    *,
    max_winners: int,
    aspects: Sequence[str] = ("9:16", "4:5", "1:1", "16:9"),
    max_choices: int = 4,
) -> WinningPatterns:
    """The tenant's patterns: its ``max_winners`` most recently indexed winners and the
    latest ``insights`` and ``creative_dna`` results of its learning cycles."""
    winners = [
        WinnerFacts(
            ad_id=w.ad_id,
            ctr=w.ctr,
            roas=w.roas,
            hook_text=w.hook_text,
            cta=w.cta,
            video_features=w.video_features,
        )
        for w in winners_db.tenant_winners(session, tenant_id, max_winners)
    ]
    insights = learning_db.latest_result(session, tenant_id=tenant_id, kind="insights")
    dna = learning_db.latest_result(session, tenant_id=tenant_id, kind="creative_dna")
    return extract_patterns(
        winners,
        insights=insights.payload if insights else None,
        dna=dna.payload if dna else None,
        aspects=aspects,
        max_choices=max_choices,
    )
