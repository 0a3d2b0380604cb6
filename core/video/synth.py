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


def _world(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A textured RGB "scene" (multi-octave value noise, shapes, fine grain), float32."""
    img = np.zeros((height, width, 3), np.float32)
    for octave, amp in ((8, 70.0), (32, 35.0), (128, 18.0), (512, 8.0)):
        gh, gw = max(2, height * octave // width), octave
        lum = rng.normal(0, 1, (gh + 1, gw + 1, 1))
        grid = (lum + 0.35 * rng.normal(0, 1, (gh + 1, gw + 1, 3))).astype(np.float32)
        ys = np.linspace(0, gh, height, dtype=np.float32)
        xs = np.linspace(0, gw, width, dtype=np.float32)
        y0, x0 = np.minimum(ys.astype(int), gh - 1), np.minimum(xs.astype(int), gw - 1)
        fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
        top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
        bot = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
        img += amp * (top * (1 - fy) + bot * fy)
    img += np.array([118, 112, 100], np.float32)
    yy, xx = np.mgrid[0:height, 0:width]
    for _ in range(24):  # hard-edged objects (buildings, signs)
        cx, cy, r = rng.integers(0, width), rng.integers(0, height), rng.integers(20, 120)
        colour = rng.integers(20, 235, 3).astype(np.float32)
        mask = (np.abs(xx - cx) < r) & (np.abs(yy - cy) < r // 2 + 10)
        img[mask] = 0.6 * colour + 0.4 * img[mask]
    img += rng.normal(0, 9, (height, width, 1)).astype(np.float32)  # fine texture
    return np.clip(img, 0, 255)


def camera_clip(
    path: str | Path,
    *,
    width: int = 1280,
    height: int = 720,
    fps: int = 30,
    frames: int = 132,
    audio: AudioTrack | None = None,
    noise: float = 3.0,
    seed: int = 0,
) -> Path:
    """A camera-like clip: a textured scene panned along a smooth hand-held path, a moving
    object, and per-frame sensor noise (flat synthetic frames flatter every encoder)."""
    path = Path(path)
    rng = np.random.default_rng(seed)
    margin_x, margin_y = width // 4, height // 4
    world = _world(rng, width + 2 * margin_x, height + 2 * margin_y)
    t = np.arange(frames) / fps
    px = margin_x + margin_x * 0.8 * np.sin(2 * np.pi * 0.12 * t) + 6 * np.sin(2 * np.pi * 1.7 * t)
    py = (
        margin_y
        + margin_y * 0.5 * np.sin(2 * np.pi * 0.09 * t + 1)
        + 4 * np.sin(2 * np.pi * 2.3 * t)
    )
    with VideoWriter(path, width, height, fps, audio=audio) as w:
        for i in range(frames):
            x, y = int(px[i]), int(py[i])
            f = world[y : y + height, x : x + width].copy()
            bx = int((width - 160) * (0.5 + 0.45 * np.sin(2 * np.pi * 0.3 * t[i])))
            f[height // 2 - 60 : height // 2 + 60, bx : bx + 160] = (230, 60, 40)
            f += rng.normal(0, noise, (height, width, 1)).astype(np.float32)
            w.write(np.clip(f, 0, 255).astype(np.uint8))
    return path


def speech_like(duration_s: float, *, rate: int = 48_000, seed: int = 0) -> AudioTrack:
    """Speech-like audio: a 100–180 Hz glottal pulse train through three formant resonators
    that move per syllable, ~4 syllables a second with pauses, and plosive bursts about 4 dB
    over the voiced peaks (a peak-to-loudness ratio above 20 dB)."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = int(round(duration_s * rate))
    t = np.arange(n) / rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    pulses = np.diff(np.floor(np.cumsum(f0 / rate)), prepend=0.0)  # one impulse a period
    syl = int(rate * 0.25)
    voiced = np.zeros(n)
    for a in range(0, n, syl):  # each syllable: its own vowel (formants), a smooth envelope
        seg = pulses[a : a + syl]
        f1, f2, f3 = rng.uniform(300, 800), rng.uniform(900, 2200), rng.uniform(2400, 3000)
        out = seg.copy()
        for f, bw in ((f1, 80.0), (f2, 120.0), (f3, 160.0)):
            r = np.exp(-np.pi * bw / rate)
            out = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / rate), r * r], out)
        voiced[a : a + len(seg)] = out * np.hanning(len(seg)) * rng.uniform(0.5, 1.0)
    voiced *= (np.sin(2 * np.pi * 0.4 * t) > -0.6).astype(np.float32)  # pauses
    voiced /= np.abs(voiced).max()
    for k in rng.integers(0, max(n - 600, 1), size=max(1, int(duration_s))):  # plosives
        m = len(voiced[k : k + 480])
        voiced[k : k + m] += 1.6 * rng.normal(0, 1, m) * np.hanning(m) ** 4
    sig = voiced / np.abs(voiced).max() * 0.9
    return AudioTrack(np.stack([sig, sig * 0.95]).astype(np.float32), rate)


def music_like(duration_s: float, *, rate: int = 48_000, seed: int = 1) -> AudioTrack:
    """A chord pad with bass and drum hits (sharp transients well above the body)."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * rate))
    t = np.arange(n) / rate
    pad = sum(0.08 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0))
    bass = 0.15 * np.sin(2 * np.pi * 55.0 * t)
    kick = np.zeros(n)
    snare = np.zeros(n)
    beat = int(rate * 0.5)
    env = np.exp(-np.arange(int(rate * 0.15)) / (rate * 0.03))
    for k in range(0, n, beat):
        seg = kick[k : k + len(env)]
        seg += 0.9 * np.sin(2 * np.pi * 60 * np.arange(len(seg)) / rate) * env[: len(seg)]
        m = k + beat // 2
        if m < n:
            s = snare[m : m + len(env)]
            s += 0.7 * rng.normal(0, 1, len(s)) * env[: len(s)]
    left = pad + bass + kick + snare
    right = pad + bass + kick + 0.8 * snare
    sig = np.stack([left, right])
    sig = sig / np.abs(sig).max() * 0.95
    return AudioTrack(sig.astype(np.float32), rate)
