"""Loudness normalisation to a target integrated loudness (ITU-R BS.1770 / EBU R128).

The video stream is copied untouched; the audio is measured (K-weighting, 400 ms blocks,
absolute −70 LUFS and relative −10 LU gates), gained to the target and capped so the
sample peak stays under ``peak_db`` (a gain cap, not a limiter).
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field
from scipy.signal import lfilter

from core.video.errors import VideoError
from core.video.io import AudioTrack, read_audio, remux_with_audio
from core.video.ops.base import OpConfig, OpContext, OpOutput


class LoudnessConfig(OpConfig):
    """``target_lufs`` (e.g. −14 for social, −23 for broadcast) and a sample-peak ceiling."""

    target_lufs: float = Field(-14.0, ge=-70, le=0)
    peak_db: float = Field(-1.0, ge=-20, le=0)


def _biquads(rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """K-weighting: high shelf (+4 dB at 1.5 kHz) then high pass (38 Hz)."""
    w0 = 2 * math.pi * 1500.0 / rate
    a_ = 10 ** (4.0 / 40)
    alpha = math.sin(w0) / (2 * (1 / math.sqrt(2)))
    cw, sa = math.cos(w0), 2 * math.sqrt(a_) * alpha
    shelf_b = [
        a_ * ((a_ + 1) + (a_ - 1) * cw + sa),
        -2 * a_ * ((a_ - 1) + (a_ + 1) * cw),
        a_ * ((a_ + 1) + (a_ - 1) * cw - sa),
    ]
    shelf_a = [
        (a_ + 1) - (a_ - 1) * cw + sa,
        2 * ((a_ - 1) - (a_ + 1) * cw),
        (a_ + 1) - (a_ - 1) * cw - sa,
    ]
    w0 = 2 * math.pi * 38.0 / rate
    alpha, cw = math.sin(w0) / (2 * 0.5), math.cos(w0)
    hp_b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
    hp_a = [1 + alpha, -2 * cw, 1 - alpha]
    return [(np.array(shelf_b), np.array(shelf_a)), (np.array(hp_b), np.array(hp_a))]


def integrated_loudness(track: AudioTrack) -> float:
    """Gated integrated loudness in LUFS (−inf for silence)."""
    z = track.samples.astype(np.float64)
    for b, a in _biquads(track.rate):
        z = lfilter(b / a[0], a / a[0], z, axis=1)
    block, step = int(0.4 * track.rate), int(0.1 * track.rate)
    if z.shape[1] < block:
        z = np.pad(z, ((0, 0), (0, block - z.shape[1])))
    starts = range(0, z.shape[1] - block + 1, step)
    power = np.array([(z[:, s : s + block] ** 2).mean(axis=1).sum() for s in starts])
    with np.errstate(divide="ignore"):
        loud = -0.691 + 10 * np.log10(power)
    gated = power[loud > -70.0]
    if gated.size == 0:
        return float("-inf")
    rel = -0.691 + 10 * np.log10(gated.mean()) - 10.0
    final = power[(loud > -70.0) & (loud > rel)]
    return float(-0.691 + 10 * np.log10(final.mean()))


def run(ctx: OpContext, cfg: LoudnessConfig) -> OpOutput:
    track = read_audio(ctx.path)
    if track is None:
        raise VideoError("the input has no audio track to normalise")
    before = integrated_loudness(track)
    if not math.isfinite(before):
        raise VideoError("the audio is silent; loudness cannot be normalised")
    gain_db = cfg.target_lufs - before
    peak = float(np.abs(track.samples).max())
    if peak > 0:
        gain_db = min(gain_db, cfg.peak_db - 20 * math.log10(peak))
    out_track = AudioTrack((track.samples * 10 ** (gain_db / 20)).astype(np.float32), track.rate)
    out = remux_with_audio(ctx.path, ctx.video_output(), out_track, ctx.video_config.encoding)
    after = integrated_loudness(out_track)
    return OpOutput(
        [str(out)],
        {
            "input_lufs": round(before, 2),
            "output_lufs": round(after, 2),
            "gain_db": round(gain_db, 2),
            "target_lufs": cfg.target_lufs,
            "peak_limited": gain_db < cfg.target_lufs - before - 1e-9,
        },
    )
