"""Fixtures: clips in a media root, a run context, the session's Ray instance."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.video import MediaRoots
from core.video.synth import square_clip
from serve_apps.video.tasks import RunContext


@pytest.fixture(scope="session")
def video_media(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pro-media")
    square_clip(root / "a.mp4", duration_s=1.0, audio=True)
    square_clip(root / "b.mp4", duration_s=1.0, scene_cuts=1)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200)
    return root


@pytest.fixture()
def run_ctx(video_media: Path, tmp_path: Path) -> RunContext:
    roots = MediaRoots(media_root=video_media, output_root=tmp_path / "out")
    return RunContext(roots=roots, output_dir=roots.output_root / "default" / "test")
