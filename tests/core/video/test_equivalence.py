"""The libavfilter operations against the numpy ones they replaced (frozen in
``tests/core/video/reference``): same geometry, same frame count, PSNR ≥ 35 dB on a
camera-like clip (texture, motion, noise), both sides encoded near-lossless."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

from core.video import get_video_config, run_operation
from core.video.io import probe
from core.video.ops.base import OpContext
from core.video.synth import camera_clip, speech_like
from tests.core.video.conftest import read_all


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def camera(media: Path) -> str:
    camera_clip(media / "camera.mp4", width=320, height=180, frames=30, audio=speech_like(1.0))
    return "camera.mp4"


CASES = [
    ("color_grade", {"preset": "warm"}),
    ("color_grade", {"preset": "vintage"}),
    ("color_grade", {"preset": "teal_orange"}),
    ("color_grade", {"preset": "mono"}),
    ("color_grade", {"preset": "bright", "intensity": 0.6}),
    ("color_grade", {"preset": "high_contrast", "intensity": 0.5}),
    ("resize", {"preset": "1:1", "height": 240}),
    ("resize", {"preset": "9:16", "height": 320, "mode": "fill"}),
    ("resize", {"width": 200, "height": 100, "mode": "stretch"}),
    ("caption", {"text": "Summer sale: 40% off", "start_s": 0.2, "end_s": 0.8}),
    (
        "caption",
        {"srt": "1\n00:00:00,000 --> 00:00:00,500\nOne\n\n2\n00:00:00,400 --> 00:00:01,000\nTwo\n"},
    ),
    ("overlay", {"image_path": "logo.png", "position": "top_left", "opacity": 0.7}),
    ("overlay", {"text": "@brand", "start_s": 0.3}),
    ("trim", {"start_s": 0.4, "end_s": 0.9}),
    ("speed", {"factor": 2.0}),
    ("speed", {"factor": 0.5}),
    ("transcode", {"fps": 15}),
]


@pytest.mark.parametrize(
    ("op", "config"), CASES, ids=[f"{o}-{i}" for i, (o, _) in enumerate(CASES)]
)
def test_matches_the_numpy_implementation(roots, camera, op, config, tmp_path):
    # near-lossless encodes on both sides, so that the comparison sees the operations and
    # not two rounds of x264 noise on a noisy clip
    base = get_video_config()
    vc = base.model_copy(update={"encoding": base.encoding.model_copy(update={"crf": 4})})
    new = run_operation(op, camera, config, roots=roots, video_config=vc)
    assert new.status == "success", new.error
    ref_mod = importlib.import_module(f"tests.core.video.reference.{op}")
    cfg_cls = next(v for k, v in vars(ref_mod).items() if k.endswith("Config") and k != "OpConfig")
    ctx = OpContext(
        info=probe(roots.media_root / camera),
        output_dir=tmp_path / "ref",
        video_config=vc,
        media_root=roots.media_root,
    )
    ctx.output_dir.mkdir()
    old = ref_mod.run(ctx, cfg_cls.model_validate(config))
    a, b = read_all(new.output_path), read_all(old.outputs[0])
    assert a.shape == b.shape
    assert psnr(a, b) >= 35.0
    assert probe(new.output_path).has_audio == probe(old.outputs[0]).has_audio
