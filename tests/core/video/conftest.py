"""Fixtures: a media root with tiny synthetic clips (written with PyAV), and an output root."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.video import MediaRoots, run_operation
from core.video.io import FrameReader, probe
from core.video.synth import square_clip


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("media")
    square_clip(root / "clip.mp4", width=160, height=120, fps=20, duration_s=1.0, audio=True)
    square_clip(root / "wide.mp4", width=320, height=240, fps=20, duration_s=1.5)
    square_clip(root / "cuts.mp4", width=160, height=120, fps=20, duration_s=2.0, scene_cuts=3)
    square_clip(root / "static.mp4", width=160, height=120, fps=20, duration_s=1.0, static=True)
    square_clip(
        root / "quiet.mp4",
        width=160,
        height=120,
        fps=20,
        duration_s=2.0,
        audio=True,
        audio_amplitude=0.01,
    )
    Image.new("RGBA", (40, 20), (255, 0, 0, 255)).save(root / "logo.png")
    (root / "empty.mp4").write_bytes(b"")
    (root / "notes.txt").write_text("not a video at all\n" * 50)
    (root / "corrupt.mp4").write_bytes((root / "clip.mp4").read_bytes()[:600])
    return root


@pytest.fixture()
def roots(media: Path, tmp_path: Path) -> MediaRoots:
    return MediaRoots(media_root=media, output_root=tmp_path / "out")


@pytest.fixture()
def run(roots: MediaRoots):
    """Run an operation and assert it succeeded."""

    def _run(op: str, video: str, config: dict | None = None):
        result = run_operation(op, video, config or {}, roots=roots)
        assert result.status == "success", result.error
        for out in result.outputs:
            assert Path(out).is_file() and Path(out).stat().st_size > 0
            assert Path(out).resolve().is_relative_to(roots.output_root.resolve())
        return result

    return _run


def read_all(path: str | Path) -> np.ndarray:
    """All frames of a file (small test clips only)."""
    r = FrameReader(path)
    return r.get(range(r.frame_count))


def describe(path: str | Path):
    return probe(path)
