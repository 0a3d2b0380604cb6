"""EBU R128 loudness: ITU-R BS.1770 integrated loudness, true peak, and a two-pass
normaliser with a look-ahead true-peak limiter (numpy/scipy, no Ray).

Tracks are :class:`~core.video.io.AudioTrack` (float32, shape ``(channels, n)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import lfilter, resample_poly

from core.video.config import Loudness
from core.video.io import AudioTrack

_BLOCK = 1 << 18  # samples per block of the oversampled true-peak pass
_PAD = 64  # context on each side of a block (the polyphase filter's reach, with margin)


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
    """Gated integrated loudness in LUFS (−inf for silence): K-weighting, 400 ms blocks with
    75 % overlap, −70 LUFS absolute and −10 LU relative gates."""
    z = track.samples.astype(np.float64)
    for b, a in _biquads(track.rate):
        z = lfilter(b / a[0], a / a[0], z, axis=1)
    block, step = int(0.4 * track.rate), int(0.1 * track.rate)
    if z.shape[1] < block:
        z = np.pad(z, ((0, 0), (0, block - z.shape[1])))
    # mean square of every 400 ms block from cumulative sums (one pass, no Python loop)
    csum = np.concatenate([np.zeros((z.shape[0], 1)), np.cumsum(z**2, axis=1)], axis=1)
    starts = np.arange(0, z.shape[1] - block + 1, step)
    power = ((csum[:, starts + block] - csum[:, starts]) / block).sum(axis=0)
    with np.errstate(divide="ignore"):
        loud = -0.691 + 10 * np.log10(power)
    gated = power[loud > -70.0]
    if gated.size == 0:
        return float("-inf")
    rel = -0.691 + 10 * np.log10(gated.mean()) - 10.0
    final = power[(loud > -70.0) & (loud > rel)]
    return float(-0.691 + 10 * np.log10(final.mean()))


def peak_envelope(samples: np.ndarray, oversample: int = 4) -> np.ndarray:
    """Per-sample true-peak estimate, shape ``(n,)``: the largest absolute value over the
    channels and the ``oversample`` interpolated points at and after each sample."""
    n = samples.shape[1]
    env = np.abs(samples).max(axis=0).astype(np.float32)
    if oversample <= 1 or n == 0:
        return env
    for a in range(0, n, _BLOCK):
        lo, hi = max(0, a - _PAD), min(n, a + _BLOCK + _PAD)
        up = resample_poly(samples[:, lo:hi].astype(np.float32), oversample, 1, axis=1)
        up = np.abs(up).max(axis=0).reshape(hi - lo, oversample).max(axis=1)
        b = min(n, a + _BLOCK)
        env[a:b] = np.maximum(env[a:b], up[a - lo : b - lo])
    return env


def true_peak_db(track: AudioTrack, oversample: int = 4) -> float:
    """True peak in dBTP (ITU-R BS.1770-4 annex 2, ``oversample``× interpolation)."""
    peak = float(peak_envelope(track.samples, oversample).max(initial=0.0))
    return 20 * math.log10(peak) if peak > 0 else float("-inf")


def limit(samples: np.ndarray, rate: int, ceiling_db: float, cfg: Loudness) -> np.ndarray:
    """A look-ahead true-peak limiter: gain ≤ ceiling / peak around every over, reached over
    half the look-ahead, held for the release time, then restored over the look-ahead."""
    ceiling = 10 ** ((ceiling_db - 0.1) / 20)  # 0.1 dB of margin for the estimate
    env = peak_envelope(samples, cfg.oversample)
    need = np.minimum(1.0, ceiling / np.maximum(env, 1e-12)).astype(np.float32)
    if need.min() >= 1.0:
        return samples
    look = max(1, int(rate * cfg.lookahead_ms / 1000))
    hold = max(1, int(rate * cfg.release_ms / 1000))
    gain = minimum_filter1d(need, size=2 * look + 1, mode="nearest")
    gain = minimum_filter1d(gain, size=hold, origin=-(hold // 2), mode="nearest")
    gain = uniform_filter1d(gain, size=look | 1, mode="nearest")
    out = samples * gain[None, :]
    excess = float(peak_envelope(out, cfg.oversample).max()) / ceiling
    return out / excess if excess > 1.0 else out  # a last trim for interpolation overs


@dataclass(frozen=True)
class Normalised:
    """The normalised track and what the passes measured."""

    track: AudioTrack
    input_lufs: float
    output_lufs: float
    gain_db: float
    true_peak_db: float
    limited: bool
    passes: int


def normalise(
    track: AudioTrack, target_lufs: float, ceiling_db: float, cfg: Loudness
) -> Normalised:
    """Two-pass EBU R128 normalisation: measure, then gain to the target through the
    true-peak limiter, re-measuring and correcting the gain until the output is within
    ``cfg.tolerance_lu`` of the target (or ``cfg.max_passes`` passes)."""
    before = integrated_loudness(track)
    if not math.isfinite(before):
        raise ValueError("the audio is silent")
    gain_db = target_lufs - before
    out, after, passes, limited = track.samples, before, 0, False
    prev: tuple[float, float] | None = None  # (gain, loudness) of the pass before
    while passes < cfg.max_passes:
        passes += 1
        gained = track.samples * np.float32(10 ** (gain_db / 20))
        out = limit(gained, track.rate, ceiling_db, cfg)
        limited = out is not gained
        after = integrated_loudness(AudioTrack(out, track.rate))
        if abs(after - target_lufs) <= cfg.tolerance_lu:
            break
        # secant step: the limiter takes back part of each dB of gain
        slope = 1.0
        if prev is not None and abs(gain_db - prev[0]) > 1e-6:
            slope = min(1.0, max(0.1, (after - prev[1]) / (gain_db - prev[0])))
        prev = (gain_db, after)
        # at most 24 dB of limiting over the plain gain: past that, the target is out of reach
        gain_db = min(gain_db + (target_lufs - after) / slope, target_lufs - before + 24.0)
    result = AudioTrack(out.astype(np.float32), track.rate)
    return Normalised(
        track=result,
        input_lufs=before,
        output_lufs=after,
        gain_db=gain_db,
        true_peak_db=true_peak_db(result, cfg.oversample),
        limited=limited,
        passes=passes,
    )
