"""Synthetic clips written with PyAV, for tests and benchmarks (no downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.video.io import AudioTrack, VideoWriter

PALETTE = [(40, 60, 90), (150, 60, 40), (40, 130, 60), (110, 110, 120), (90, 40, 120)]


def tone(
    duration_s: float,
    *,
    rate: int = 48_000,
    freq: float = 440.0,
    amplitude: float = 0.1,
    channels: int = 2,
) -> AudioTrack:
    """A sine tone, ``amplitude`` of full scale."""
    t = np.arange(int(round(duration_s * rate))) / rate
    wave = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return AudioTrack(np.tile(wave, (channels, 1)), rate)


def square_clip(
    path: str | Path,
    *,
    width: int = 160,
    height: int = 120,
    fps: int = 20,
    duration_s: float = 1.0,
    square: int = 24,
    scene_cuts: int = 0,
    audio: bool = False,
    audio_amplitude: float = 0.1,
    static: bool = False,
    texture: bool = True,
) -> Path:
    """A clip with a white square moving left to right over a (textured) background.

    ``scene_cuts`` splits the clip into equal scenes with different background colours;
    ``static`` keeps the square in the middle. Returns ``path``.
    """
    path = Path(path)
    n = int(round(duration_s * fps))
    rng = np.random.default_rng(0)
    noise = rng.integers(-12, 12, size=(height, width, 1)) if texture else 0
    track = tone(duration_s, amplitude=audio_amplitude) if audio else None
    scenes = scene_cuts + 1
    with VideoWriter(path, width, height, fps, audio=track) as w:
        for i in range(n):
            scene = min(i * scenes // n, scenes - 1)
            base = np.array(PALETTE[scene % len(PALETTE)], dtype=np.int16)
            frame = np.clip(base + noise, 0, 255).astype(np.uint8)
            frame = np.broadcast_to(frame, (height, width, 3)).copy()
            x = (width - square) // 2 if static else int((width - square) * i / max(n - 1, 1))
            y = (height - square) // 2
            frame[y : y + square, x : x + square] = 255
            w.write(frame)
    return path


def write_frames(
    path: str | Path, frames: list[np.ndarray], fps: int = 20, audio: AudioTrack | None = None
) -> Path:
    """Write given RGB frames as a clip."""
    h, w = frames[0].shape[:2]
    with VideoWriter(path, w, h, fps, audio=audio) as writer:
        writer.write_many(frames)
    return Path(path)
