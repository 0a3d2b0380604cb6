"""The shared reader/writer layer."""

from __future__ import annotations

import numpy as np
import pytest

from core.video.errors import InvalidInputError
from core.video.io import FrameReader, VideoWriter, even, probe, read_audio, sample_indices
from core.video.synth import square_clip, tone


def test_writer_roundtrip_keeps_size_rate_count_and_audio(tmp_path):
    path = square_clip(tmp_path / "a.mp4", width=96, height=64, fps=25, duration_s=0.8, audio=True)
    info = probe(path)
    assert (info.width, info.height, info.fps, info.frame_count) == (96, 64, 25.0, 20)
    assert info.has_audio and info.audio_rate == 48_000
    audio = read_audio(path)
    assert audio is not None and abs(audio.duration_s - 0.8) < 0.05
    assert 0.05 < np.abs(audio.samples).max() < 0.15  # the 0.1-amplitude tone survived AAC


def test_reader_chunks_are_bounded_and_ordered(tmp_path):
    path = square_clip(tmp_path / "b.mp4", duration_s=1.0)
    reader = FrameReader(path, chunk=6)
    sizes, seen = [], []
    for idx, frames in reader.chunks():
        sizes.append(len(frames))
        seen.extend(idx)
        assert frames.shape[1:] == (120, 160, 3) and frames.dtype == np.uint8
    assert max(sizes) == 6 and seen == list(range(20))


def test_reader_can_downscale_at_decode(tmp_path):
    path = square_clip(tmp_path / "c.mp4")
    frames = FrameReader(path, width=80, height=60).get([0, 5])
    assert frames.shape == (2, 60, 80, 3)


def test_writer_refuses_odd_sizes_and_wrong_frames(tmp_path):
    with pytest.raises(ValueError, match="even"):
        VideoWriter(tmp_path / "x.mp4", 15, 10, 10)
    with (
        VideoWriter(tmp_path / "y.mp4", 16, 10, 10, audio=tone(0.2)) as w,
        pytest.raises(ValueError, match="frame is"),
    ):
        w.write(np.zeros((12, 16, 3), np.uint8))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.mp4", None, "not found"),
        ("empty.mp4", b"", "empty"),
        ("text.mp4", b"hello " * 100, "not a readable video"),
    ],
)
def test_probe_rejects_bad_files(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InvalidInputError, match=message):
        probe(path)


def test_helpers():
    assert even(135) == 136 and even(1) == 2 and even(7.2) == 8
    assert sample_indices(20, 20.0, 0.25) == [0, 5, 10, 15]


def test_backends_read_the_same_frames(tmp_path):
    path = square_clip(tmp_path / "d.mp4", width=160, height=120, duration_s=1.0)
    pyav, dec = FrameReader(path, backend="pyav"), FrameReader(path, backend="decord")
    assert (pyav.frame_count, pyav.fps) == (dec.frame_count, dec.fps) == (20, 20.0)
    idx = [0, 3, 3, 19, 7]  # unordered and repeated: PyAV rewinds and reuses
    a, b = pyav.get(idx).astype(int), dec.get(idx).astype(int)
    assert a.shape == b.shape == (5, 120, 160, 3)
    assert np.abs(a - b).mean() < 2.0
    assert np.array_equal(a[1], a[2])
    small_a = FrameReader(path, width=80, height=60, backend="pyav").get([5]).astype(int)
    small_b = FrameReader(path, width=80, height=60, backend="decord").get([5]).astype(int)
    assert small_a.shape == (1, 60, 80, 3) and np.abs(small_a - small_b).mean() < 4.0


def test_auto_backend_follows_the_measured_rule():
    from core.video.io import choose_backend

    assert choose_backend(1280, 720, downscaled=False) == "pyav"
    assert choose_backend(1280, 720, downscaled=True) == "pyav"
    assert choose_backend(176, 144, downscaled=True) == "decord"
    assert choose_backend(176, 144, downscaled=False) == "pyav"
