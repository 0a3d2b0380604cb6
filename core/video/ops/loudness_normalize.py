"""Loudness normalisation to a target integrated loudness (EBU R128, ITU-R BS.1770).

The video stream is copied untouched; the audio is measured, gained to the target and passed
through a look-ahead true-peak limiter with ``peak_db`` as its ceiling (dBTP), re-measured
and corrected until it lands within ``loudness.tolerance_lu`` of the target
(:func:`core.video.loudness.normalise`). When the AAC encoding overshoots the ceiling, the
limiter runs again with its ceiling lowered by the overshoot (:func:`normalise_into`, also
used by ``audio_mix``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from core.video.errors import VideoError
from core.video.io import AudioTrack, read_audio, remux_with_audio
from core.video.loudness import integrated_loudness, normalise, true_peak_db
from core.video.ops.base import OpConfig, OpContext, OpOutput

__all__ = ["LoudnessConfig", "integrated_loudness", "normalise_into", "run"]


class LoudnessConfig(OpConfig):
    """``target_lufs`` (e.g. −14 for social, −23 for broadcast) and a true-peak ceiling."""

    target_lufs: float = Field(-14.0, ge=-70, le=0)
    peak_db: float = Field(-1.0, ge=-20, le=0)


def normalise_into(
    ctx: OpContext, track: AudioTrack, target_lufs: float, peak_db: float
) -> tuple[Path, dict[str, Any]]:
    """Normalise ``track``, write it as the audio of the input's copied video stream; the
    output and what was measured (before and after AAC)."""
    settings = ctx.video_config.loudness
    ceiling = peak_db
    for _ in range(3):  # AAC can overshoot the limiter: lower its ceiling by the overshoot
        try:
            res = normalise(track, target_lufs, ceiling, settings)
        except ValueError as exc:
            raise VideoError("the audio is silent; loudness cannot be normalised") from exc
        out = remux_with_audio(ctx.path, ctx.video_output(), res.track, ctx.video_config.encoding)
        encoded = read_audio(out)  # what a player will hear: after AAC
        over = true_peak_db(encoded, settings.oversample) - peak_db if encoded else 0.0
        if over <= 0:
            break
        ceiling -= over + 0.1
    return out, {
        "input_lufs": round(res.input_lufs, 2),
        "output_lufs": round(res.output_lufs, 2),
        "encoded_lufs": round(integrated_loudness(encoded), 2) if encoded else None,
        "true_peak_db": round(res.true_peak_db, 2),
        "encoded_true_peak_db": (
            round(true_peak_db(encoded, settings.oversample), 2) if encoded else None
        ),
        "gain_db": round(res.gain_db, 2),
        "target_lufs": target_lufs,
        "peak_db": peak_db,
        "limiter_ceiling_db": round(ceiling, 2),
        "peak_limited": res.limited,
        "passes": res.passes,
    }


def run(ctx: OpContext, cfg: LoudnessConfig) -> OpOutput:
    track = read_audio(ctx.path)
    if track is None:
        raise VideoError("the input has no audio track to normalise")
    out, data = normalise_into(ctx, track, cfg.target_lufs, cfg.peak_db)
    return OpOutput([str(out)], data)
