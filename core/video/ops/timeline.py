"""Timeline: clips (in/out points, speed) joined by cuts or transitions into one video at an
output size, with the audio crossfaded alongside and an optional ducked music bed.

Video: one libavfilter graph (:mod:`core.video.compose`): per clip a frame map (in/out,
speed and frame rate as exact source-frame indices), scale/pad to the output, ``xfade``
between clips (``concat`` for cuts). Audio: each clip's track cut to the same span,
``atempo``-retimed with its speed (silence for clips without audio), joined with
``acrossfade`` over the same overlap (``concat`` for cuts); then the music bed of
:func:`core.video.mixing.mix_bed` (the ``audio_mix`` function) and optional EBU R128
normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ConfigDict, Field, field_validator, model_validator

from core.video.audiograph import conform, filter_audio, join
from core.video.compose import ClipFrames, compose, output_frames
from core.video.config import get_video_config
from core.video.errors import VideoError
from core.video.io import AudioTrack, VideoInfo, probe, read_audio
from core.video.mixing import MusicBed, load_music, mix_bed, to_loudness
from core.video.ops.base import OpConfig, OpContext, OpOutput
from core.video.ops.resize import ResizeConfig, place_filters
from core.video.ops.speed import retime_audio
from core.video.pipeline import Filter, frame_rate
from core.video.safety import resolve_inside


class Transition(OpConfig):
    """``type``: ``cut`` or a name from ``timeline.transitions`` (crossfade, dip_to_black,
    wipe_left, slide_right…); ``duration_s`` (default ``timeline.transition_s``)."""

    type: str = "cut"
    duration_s: float | None = Field(None, gt=0, le=10)

    @field_validator("type")
    @classmethod
    def _known(cls, v: str) -> str:
        known = get_video_config().timeline.transitions
        if v != "cut" and v not in known:
            raise ValueError(f"unknown transition {v!r}; known: {['cut', *sorted(known)]}")
        return v

    @property
    def seconds(self) -> float:
        if self.type == "cut":
            return 0.0
        return self.duration_s or get_video_config().timeline.transition_s


def _transition(v: Any) -> Any:
    return {"type": v} if isinstance(v, str) else v  # "crossfade" = {"type": "crossfade"}


class Clip(OpConfig):
    """A span of a file: ``path`` (inside the media root; default: the request's
    ``video_path``), ``in``/``out`` in seconds (default: whole file), ``speed`` (0.25–4),
    and the ``transition`` from the clip before (default: the timeline's)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    path: str | None = Field(None, min_length=1, max_length=1024)
    in_s: float = Field(0.0, ge=0, alias="in")
    out_s: float | None = Field(None, gt=0, alias="out")
    speed: float = Field(1.0, ge=0.25, le=4.0)
    transition: Transition | None = None

    @field_validator("transition", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        return _transition(v)

    @model_validator(mode="after")
    def _span(self) -> Clip:
        if self.out_s is not None and self.out_s <= self.in_s:
            raise ValueError(f"out ({self.out_s}) must be after in ({self.in_s})")
        return self

    @property
    def length_s(self) -> float | None:
        """Seconds on the timeline, when ``out`` is given."""
        return None if self.out_s is None else (self.out_s - self.in_s) / self.speed


class TimelineConfig(OpConfig):
    """``clips`` in order; ``transition``: the default joint; ``output``: a ``resize``
    config (preset or size, fit/fill; default the first clip's size); ``fps`` (default the
    first clip's); ``music``: a bed as in ``audio_mix``; ``target_lufs``: normalise the
    final mix (EBU R128, ``peak_db`` ceiling)."""

    clips: list[Clip] = Field(..., min_length=1)
    transition: Transition = Field(default_factory=Transition)
    output: ResizeConfig | None = None
    fps: float | None = Field(None, ge=1, le=120)
    music: MusicBed | None = None
    target_lufs: float | None = Field(None, ge=-70, le=0)
    peak_db: float = Field(-1.0, ge=-20, le=0)

    @field_validator("transition", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        return _transition(v)

    @model_validator(mode="after")
    def _joints(self) -> TimelineConfig:
        limit = get_video_config().timeline.max_clips
        if len(self.clips) > limit:
            raise ValueError(f"at most {limit} clips, got {len(self.clips)}")
        first = self.clips[0].transition
        if first is not None and first.type != "cut":
            raise ValueError("clip 0 has no clip before it to transition from")
        check_overlaps([c.length_s for c in self.clips], self.overlaps_s())
        return self

    def joint(self, k: int) -> Transition:
        """The transition into clip ``k`` (``k`` ≥ 1)."""
        return self.clips[k].transition or self.transition

    def overlaps_s(self) -> list[float]:
        """Seconds each joint overlaps (index ``k``: into clip ``k``; 0 for clip 0)."""
        return [0.0] + [self.joint(k).seconds for k in range(1, len(self.clips))]

    def media_paths(self) -> list[tuple[str, str]]:
        paths = [(f"clips.{k}.path", c.path) for k, c in enumerate(self.clips) if c.path]
        return paths + (self.music.media_paths() if self.music else [])


def check_overlaps(lengths: list[float | None], overlaps: list[float], unit: str = "s") -> None:
    """Each clip must hold its incoming and outgoing transitions (lengths ``None``: unknown
    until the file is read); raises ``ValueError``."""
    for k, length in enumerate(lengths):
        if length is None:
            continue
        into, out_of = overlaps[k], overlaps[k + 1] if k + 1 < len(overlaps) else 0.0
        if into + out_of > length + 1e-9:
            raise ValueError(
                f"transitions into and out of clip {k} ({into:g} {unit} + {out_of:g} {unit}) "
                f"are longer than the clip ({length:g} {unit})"
            )


@dataclass(frozen=True)
class _Planned:
    clip: Clip
    joint: str  # the transition into it ("cut" for clip 0)
    info: VideoInfo
    first: int  # source frames [first, last)
    last: int
    frames: ClipFrames


def _plan(
    ctx: OpContext, cfg: TimelineConfig, rate: float, size: tuple[int, int]
) -> list[_Planned]:
    infos: dict[Path, VideoInfo] = {Path(ctx.path): ctx.info}
    mode, pad = (cfg.output.mode, cfg.output.pad_color) if cfg.output else ("fit", (0, 0, 0))
    out = []
    for k, clip in enumerate(cfg.clips):
        path = Path(ctx.path)
        if clip.path:
            path = resolve_inside(ctx.media_root, clip.path, field=f"clips.{k}.path")
        if path not in infos:
            infos[path] = probe(path, ctx.video_config.limits)
        info = infos[path]
        fps = info.fps
        first = int(round(clip.in_s * fps))
        last = info.frame_count if clip.out_s is None else int(round(clip.out_s * fps))
        last = min(last, info.frame_count)
        if first >= info.frame_count:
            raise VideoError(
                f"clip {k}: in ({clip.in_s} s) is past the end ({info.duration_s:.2f} s)"
            )
        last = max(last, first + 1)
        n = max(1, int(round((last - first) / fps / clip.speed * rate)))
        step = np.floor(np.arange(n) * clip.speed * fps / rate + 1e-6).astype(np.int64)
        sources = first + np.minimum(step, last - first - 1)
        ew, eh = info.width - info.width % 2, info.height - info.height % 2
        filters: list[Filter] = []
        if (ew, eh) != (info.width, info.height):
            filters.append(("crop", {"w": str(ew), "h": str(eh), "x": "0", "y": "0"}))
        if (ew, eh) != size:
            filters += place_filters((ew, eh), *size, mode, pad)
        joint = cfg.joint(k) if k else None
        xfade = None if joint is None or joint.type == "cut" else joint
        overlap = max(1, int(round(xfade.seconds * rate))) if xfade else 0
        name = ctx.video_config.timeline.transitions[xfade.type] if xfade else None
        frames = ClipFrames(path, fps, sources, filters, name, overlap)
        out.append(_Planned(clip, joint.type if joint else "cut", info, first, last, frames))
    return out


def _check(plan: list[_Planned]) -> None:
    """Transitions against the clips' real lengths (frames), as the config check does."""
    try:
        check_overlaps(
            [float(p.frames.frames) for p in plan],
            [float(p.frames.overlap) for p in plan],
            "frames",
        )
    except ValueError as exc:
        raise VideoError(str(exc)) from None


def _audio(plan: list[_Planned], rate: int, fps: float) -> AudioTrack | None:
    """Each clip's audio span (retimed, silence without audio) joined like the video."""
    tracks: dict[str, AudioTrack | None] = {}
    pieces, overlaps = [], []
    for p in plan:
        key = str(p.frames.path)
        if key not in tracks:
            tracks[key] = read_audio(key)
        src = tracks[key]
        n = int(round(p.frames.frames * rate / fps))
        piece = src.slice_s(p.first / p.info.fps, p.last / p.info.fps) if src else None
        if piece is not None and p.clip.speed != 1.0:
            piece = retime_audio(piece, p.clip.speed, piece.duration_s / p.clip.speed)
        pieces.append(conform(piece, rate, n))
        overlaps.append(int(round(p.frames.overlap * rate / fps)))
    if all(t is None for t in tracks.values()):
        return None
    if len(pieces) == 1:
        return pieces[0]

    def build(graph, src):  # noqa: ANN001, ANN202
        out = src[0]
        for k in range(1, len(src)):
            if plan[k].frames.transition is None:
                out = join(graph, "concat", out, src[k], n="2", v="0", a="1")
            else:
                out = join(
                    graph, "acrossfade", out, src[k], ns=str(overlaps[k]), o="1", c1="tri",
                    c2="tri",
                )  # fmt: skip
        return out

    return filter_audio(pieces, build)


def run(ctx: OpContext, cfg: TimelineConfig) -> OpOutput:
    vc = ctx.video_config
    fps = cfg.fps or ctx.info.fps
    rate = float(frame_rate(fps))
    size = cfg.output.target() if cfg.output else ctx.even_size
    plan = _plan(ctx, cfg, rate, size)
    _check(plan)
    clips = [p.frames for p in plan]
    total = output_frames(clips)
    if total / rate > vc.limits.max_duration_s:
        raise VideoError(f"the timeline is {total / rate:.1f} s long, over the limit")
    sr = vc.timeline.audio_rate
    n_audio = int(round(total * sr / rate))
    audio = _audio(plan, sr, rate)
    audio_data: dict[str, Any] = {"clip_audio": audio is not None}
    if cfg.music is not None:
        audio = mix_bed(audio, load_music(ctx, cfg.music), cfg.music, n_audio, sr)
        audio_data["music"] = cfg.music.music_path
    if audio is not None:
        audio = conform(audio, sr, n_audio)
        if cfg.target_lufs is not None:
            res = to_loudness(audio, cfg.target_lufs, cfg.peak_db, vc.loudness)
            audio = res.track
            audio_data.update(output_lufs=round(res.output_lufs, 2), gain_db=round(res.gain_db, 2))
    out = ctx.video_output("_timeline")
    report = compose(clips, out, size, fps, vc, audio=audio)
    return OpOutput([str(out)], _summary(plan, rate, size, total, audio_data, report.as_dict()))


def _summary(
    plan: list[_Planned],
    rate: float,
    size: tuple[int, int],
    total: int,
    audio: dict[str, Any],
    codecs: dict[str, Any],
) -> dict[str, Any]:
    clips, transitions, start = [], [], 0
    for k, p in enumerate(plan):
        start -= p.frames.overlap
        if k and p.frames.transition:
            transitions.append(
                {
                    "into_clip": k,
                    "type": p.joint,
                    "xfade": p.frames.transition,
                    "frames": p.frames.overlap,
                    "start_s": round(start / rate, 4),
                }
            )
        clips.append(
            {
                "path": Path(p.frames.path).name,
                "in_s": round(p.first / p.info.fps, 4),
                "out_s": round(p.last / p.info.fps, 4),
                "speed": p.clip.speed,
                "frames": p.frames.frames,
                "start_s": round(start / rate, 4),
            }
        )
        start += p.frames.frames
    return {
        "width": size[0],
        "height": size[1],
        "fps": rate,
        "frames": total,
        "duration_s": round(total / rate, 4),
        "clips": clips,
        "transitions": transitions,
        "audio": audio,
        "codecs": codecs,
    }
