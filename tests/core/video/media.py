"""Generated media for the timeline and audio-mix tests: solid-colour clips, tone bursts."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from core.video.io import AudioTrack, encode_audio
from core.video.synth import write_frames

RATE = 48_000
RED, BLUE, GREEN = (200, 30, 30), (30, 30, 200), (30, 200, 30)


def bursts(
    duration_s: float, windows: list[tuple[float, float]], freq: float = 1000.0, amp: float = 0.3
) -> AudioTrack:
    """A sine of ``freq`` that sounds only inside ``windows`` (seconds)."""
    t = np.arange(int(round(duration_s * RATE))) / RATE
    on = np.zeros_like(t)
    for a, b in windows:
        on[(t >= a) & (t < b)] = 1.0
    wave = (amp * on * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return AudioTrack(np.stack([wave, wave]), RATE)


def solid(
    path: Path,
    rgb: tuple[int, int, int],
    frames: int,
    *,
    fps: int = 20,
    size: tuple[int, int] = (64, 48),
    audio: AudioTrack | None = None,
    flash_at: int | None = None,
) -> Path:
    """A clip of one colour (frame ``flash_at`` white)."""
    w, h = size
    out = [np.full((h, w, 3), rgb, np.uint8) for _ in range(frames)]
    if flash_at is not None:
        out[flash_at][:] = 255
    return write_frames(path, out, fps=fps, audio=audio)


def audio_file(path: Path, track: AudioTrack) -> Path:
    """An audio-only AAC file."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=track.rate)
        stream.layout = "stereo"
        encode_audio(out, stream, track)
    return path


def level_db(track: AudioTrack, freq: float, t0: float, t1: float) -> float:
    """Amplitude (dBFS) of the ``freq`` component of channel 0 in ``[t0, t1)`` s."""
    x = track.samples[0, int(t0 * track.rate) : int(t1 * track.rate)].astype(np.float64)
    t = np.arange(len(x)) / track.rate
    amp = 2 * abs(np.mean(x * np.exp(-2j * np.pi * freq * t)))
    return 20 * float(np.log10(amp + 1e-9))


def onset_s(track: AudioTrack, threshold: float = 0.05) -> float:
    """Time of the first sample louder than ``threshold``."""
    return float(np.argmax(np.abs(track.samples[0]) > threshold)) / track.rate
