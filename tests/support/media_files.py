"""Small asset files made in the test (Pillow, PyAV, the standard library); nothing is
downloaded. The font is the DejaVu Sans that matplotlib (a dependency) ships."""

from __future__ import annotations

import io
import os
import wave
from pathlib import Path

import numpy as np
from PIL import Image


def png_bytes(size: tuple[int, int] = (40, 20), colour=(255, 0, 0, 255)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(size: tuple[int, int] = (32, 32)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buf, format="JPEG")
    return buf.getvalue()


def font_path() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def wav_bytes(duration_s: float = 0.5, rate: int = 16_000) -> bytes:
    t = np.arange(int(duration_s * rate)) / rate
    pcm = (0.2 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def clip_bytes(tmp: Path) -> bytes:
    from core.video.synth import square_clip

    path = square_clip(Path(tmp) / f"clip-{os.getpid()}.mp4", duration_s=0.5)
    return path.read_bytes()
