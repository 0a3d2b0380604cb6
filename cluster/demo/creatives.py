"""The demo's creatives: short generated clips (PyAV, no downloads) spread over the creative
feature space, their ad copy, and their ``creative_features`` computed by the pro video
operations (``POST /api/pro/batch``: Ray tasks, as any video batch).

The clips differ in what ``creative_features`` measures: frame shape (aspect), frame rate,
length, background brightness and colour, texture (sharpness, contrast), the speed and size
of a moving square (motion), scene cuts, and a tone's presence and loudness (audio), so the
market simulator's hidden rates (a function of those features) differ between creatives.
"""

from __future__ import annotations

import colorsys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cluster.demo.client import Api
from core.video.io import VideoWriter
from core.video.synth import tone

SHAPES = ((90, 160), (120, 120), (160, 90), (128, 96), (96, 128))  # 9:16, 1:1, 16:9, 4:3, 3:4
FPS = (12, 15, 24, 30)
HOOKS = (
    "Stop scrolling: 50% off today only",
    "How I cut my grocery bill in half",
    "The last running shoe you will need",
    "POV: your skin after 7 days",
    "3 mistakes everyone makes with coffee",
    "Unboxing the smartest backpack",
    "Why pros switched to this razor",
    "Meal prep in 10 minutes flat",
)
CTAS = ("SHOP_NOW", "LEARN_MORE", "SIGN_UP", "GET_OFFER")
TEMPLATES = ("ugc", "product-closeup", "before-after", "listicle")


@dataclass(frozen=True)
class Creative:
    """One generated clip and its copy; ``features`` once measured."""

    index: int
    video_path: str  # relative to the media root
    hook: str
    cta: str
    template: str
    features: dict[str, float] | None = None
    vector: list[float] | None = None

    @property
    def name(self) -> str:
        return f"creative-{self.index:02d}"


def render_clip(path: Path, rng: np.random.Generator) -> Path:
    """One clip with random shape, rate, length, colour, texture, motion, cuts and audio."""
    width, height = SHAPES[rng.integers(len(SHAPES))]
    fps = int(FPS[rng.integers(len(FPS))])
    duration = float(rng.uniform(1.0, 6.0))
    n = max(2, int(round(duration * fps)))
    scenes = int(rng.integers(1, 5))
    hue, sat, value = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.15, 0.95)
    noise_amp = float(rng.uniform(0, 40))
    noise = rng.normal(0, 1, (height, width, 1)) * noise_amp
    square = int(rng.integers(8, min(width, height) // 2))
    speed = float(rng.uniform(0, 3))  # screen widths a second
    colours = [
        np.array(colorsys.hsv_to_rgb((hue + 0.23 * k) % 1, sat, value)) * 255 for k in range(scenes)
    ]
    amp = float(rng.choice([0.0, rng.uniform(0.01, 0.5)]))
    audio = tone(n / fps, amplitude=amp, freq=float(rng.uniform(200, 900))) if amp else None
    with VideoWriter(path, width, height, fps, audio=audio) as w:
        for i in range(n):
            base = colours[min(i * scenes // n, scenes - 1)]
            frame = np.clip(base + noise, 0, 255).astype(np.uint8)
            frame = np.broadcast_to(frame, (height, width, 3)).copy()
            x = int((width - square) * (0.5 + 0.5 * np.sin(2 * np.pi * speed * i / fps)))
            y = (height - square) // 2
            frame[y : y + square, x : x + square] = 255
            w.write(frame)
    return path


def generate(
    media_root: Path, folder: str, count: int, seed: int, *, first: int = 0
) -> list[Creative]:
    """Clips ``first`` .. ``first + count - 1`` under ``<media_root>/<folder>/`` with their
    copy (hook, CTA, template); each is the same for the same seed and index."""
    out = []
    for i in range(first, first + count):
        rng = np.random.default_rng([seed, 12, i])
        rel = f"{folder}/creative-{i:02d}.mp4"
        render_clip(media_root / rel, rng)
        out.append(
            Creative(
                index=i,
                video_path=rel,
                hook=HOOKS[i % len(HOOKS)],
                cta=CTAS[int(rng.integers(len(CTAS)))],
                template=TEMPLATES[int(rng.integers(len(TEMPLATES)))],
            )
        )
    return out


def measure(
    api: Api,
    creatives: list[Creative],
    *,
    batch_size: int,
    on_done: Callable[[int], None] | None = None,
    timeout_s: float = 300.0,
) -> list[Creative]:
    """Each creative's ``creative_features`` by the pro video operations, as background
    batches (``POST /api/pro/batch`` with ``mode: async``, polled at
    ``GET /api/pro/jobs/{id}``); ``on_done`` hears the running count."""
    done: dict[int, dict[str, Any]] = {}
    jobs = []
    for start in range(0, len(creatives), batch_size):
        part = creatives[start : start + batch_size]
        body = {
            "operations": [
                {"type": "creative_features", "video_path": c.video_path, "config": {}}
                for c in part
            ],
            "mode": "async",
        }
        jobs.append((start, api.post("/api/pro/batch", body)["job_id"]))
    deadline = time.monotonic() + timeout_s
    while jobs:
        if time.monotonic() > deadline:
            raise TimeoutError(f"creative_features still running after {timeout_s:.0f} s")
        for start, job_id in list(jobs):
            job = api.get(f"/api/pro/jobs/{job_id}")
            for j, result in enumerate(job["results"]):
                if result is not None:
                    done[start + j] = result
            if job["status"] not in ("queued", "running"):
                jobs.remove((start, job_id))
        if on_done is not None:
            on_done(len(done))
        time.sleep(0.2)
    measured = []
    for i, c in enumerate(creatives):
        result = done.get(i) or {}
        if result.get("status") != "success":
            raise RuntimeError(f"creative_features failed for {c.video_path}: {result}")
        data = result["data"]
        measured.append(
            Creative(**{**c.__dict__, "features": data["features"], "vector": data["vector"]})
        )
    return measured
