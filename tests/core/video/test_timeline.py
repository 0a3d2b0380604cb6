"""Timeline: frame-accurate joins, transitions that blend, audio in sync, presets, music bed,
and config errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.video import ConfigError, PathNotAllowedError, parse_config, validate_operation
from core.video.io import probe, read_audio
from core.video.loudness import integrated_loudness
from core.video.synth import tone
from tests.core.video.conftest import read_all
from tests.core.video.media import (
    BLUE,
    GREEN,
    RED,
    audio_file,
    bursts,
    level_db,
    onset_s,
    solid,
)

FPS = 20


@pytest.fixture(scope="module", autouse=True)
def clips(media: Path) -> Path:
    solid(media / "red.mp4", RED, 20, audio=tone(1.0, freq=440.0))  # 1.0 s
    solid(media / "blue.mp4", BLUE, 30)  # 1.5 s, no audio
    solid(media / "green.mp4", GREEN, 20, size=(160, 120), audio=tone(1.0, freq=880.0))
    # white frame 20 (1.0 s) and a beep from 1.0 s: the same instant in picture and sound
    solid(media / "beep.mp4", BLUE, 30, flash_at=20, audio=bursts(1.5, [(1.0, 1.5)], amp=0.5))
    audio_file(media / "bed.m4a", tone(4.0, freq=150.0, amplitude=0.3))
    return media


def mean_rgb(frame: np.ndarray) -> np.ndarray:
    return frame.reshape(-1, 3).mean(axis=0)


def test_crossfade_is_frame_accurate_and_blends(run):
    cfg = {"clips": [{}, {"path": "blue.mp4", "transition": "crossfade"}]}  # 0.5 s default
    r = run("timeline", "red.mp4", cfg)
    info = probe(r.output_path)
    assert info.frame_count == r.data["frames"] == 20 + 30 - 10
    assert abs(info.duration_s - 2.0) < 1e-6
    frames = read_all(r.output_path)
    assert np.allclose(mean_rgb(frames[9]), RED, atol=6)  # before the transition
    assert np.allclose(mean_rgb(frames[20]), BLUE, atol=6)  # after it
    mid = mean_rgb(frames[15])  # halfway: a blend, strictly between both colours
    assert BLUE[0] + 40 < mid[0] < RED[0] - 40 and RED[2] + 40 < mid[2] < BLUE[2] - 40
    assert r.data["transitions"] == [
        {"into_clip": 1, "type": "crossfade", "xfade": "fade", "frames": 10, "start_s": 0.5}
    ]


def test_dip_to_black_is_dark_in_the_middle(run):
    cfg = {
        "clips": [{}, {"path": "blue.mp4"}],
        "transition": {"type": "dip_to_black", "duration_s": 0.6},
    }
    r = run("timeline", "red.mp4", cfg)
    frames = read_all(r.output_path)
    assert len(frames) == 20 + 30 - 12
    dip = [mean_rgb(f).max() for f in frames[8:20]]  # offset 8, 12 frames
    assert min(dip) < 8 and dip[6] < 80  # through black; the middle far darker than both clips
    assert mean_rgb(frames[7])[0] > 150 and mean_rgb(frames[25])[2] > 150


@pytest.mark.parametrize("kind", ["wipe_left", "slide_right"])
def test_wipes_and_slides_split_the_frame(run, kind):
    cfg = {"clips": [{}, {"path": "blue.mp4", "transition": {"type": kind, "duration_s": 0.5}}]}
    mid = read_all(run("timeline", "red.mp4", cfg).output_path)[15].astype(int)
    reds = (np.abs(mid - RED).max(axis=-1) < 30).mean()
    blues = (np.abs(mid - BLUE).max(axis=-1) < 30).mean()
    assert 0.3 < reds < 0.7 and 0.3 < blues < 0.7  # half one clip, half the other


def test_cuts_in_out_points_and_speed(run):
    cfg = {
        "clips": [
            {"in": 0.25, "out": 0.75},  # 10 frames
            {"path": "blue.mp4", "in": 0.5, "speed": 2.0},  # 20 source frames -> 10
            {"path": "green.mp4", "out": 0.5, "speed": 0.5},  # 10 source frames -> 20
        ]
    }
    r = run("timeline", "red.mp4", cfg)
    frames = read_all(r.output_path)
    assert len(frames) == r.data["frames"] == 40 and probe(r.output_path).frame_count == 40
    assert [c["frames"] for c in r.data["clips"]] == [10, 10, 20]
    assert [c["start_s"] for c in r.data["clips"]] == [0.0, 0.5, 1.0]
    colours = [int(np.argmax(mean_rgb(f))) for f in frames]  # 0 red, 1 green, 2 blue
    assert colours == [0] * 10 + [2] * 10 + [1] * 20
    audio = read_audio(r.output_path)
    assert audio is not None and abs(audio.duration_s - 2.0) < 1 / FPS  # silence for blue
    assert level_db(audio, 880.0, 1.1, 1.9) > -30  # green's tone, slowed (pitch kept)
    assert level_db(audio, 880.0, 0.55, 0.95) < -60  # blue has no audio: silence


def test_picture_and_sound_stay_in_sync(run):
    cfg = {"clips": [{}, {"path": "beep.mp4", "transition": "crossfade"}]}
    r = run("timeline", "red.mp4", cfg)
    info = probe(r.output_path)
    frames = read_all(r.output_path)
    white = [i for i, f in enumerate(frames) if mean_rgb(f).min() > 230]
    assert white == [10 + 20]  # beep.mp4 starts at frame 10 (after the 0.5 s overlap)
    audio = read_audio(r.output_path)
    assert audio is not None
    assert abs(onset_s(audio, 0.3) - white[0] / FPS) < 1 / FPS  # the beep on the same frame
    assert abs(audio.duration_s - info.duration_s) < 1 / FPS


def test_output_preset_fits_clips_of_other_sizes(run):
    cfg = {
        "clips": [{}, {"path": "green.mp4", "transition": "dissolve"}],
        "output": {"preset": "9:16", "height": 64},
        "fps": 10,
    }
    r = run("timeline", "red.mp4", cfg)
    info = probe(r.output_path)
    assert (info.width, info.height, info.fps) == (36, 64, 10.0)
    assert info.frame_count == 10 + 10 - 5
    last = read_all(r.output_path)[-1]
    assert mean_rgb(last[20:44])[1] > 150 and mean_rgb(last[:8]).max() < 20  # letterboxed


def test_music_bed_is_ducked_and_mix_lands_on_target(run, media):
    # voice bursts in 0.5-1.0 and 1.5-2.0 s of a 2.5 s clip; the bed is a 150 Hz tone
    solid(media / "talk.mp4", RED, 50, audio=bursts(2.5, [(0.5, 1.0), (1.5, 2.0)]))
    music = {"music_path": "bed.m4a", "fade_in_s": 0, "fade_out_s": 0}
    cfg = {"clips": [{"path": "talk.mp4"}], "music": music, "target_lufs": -16.0}
    r = run("timeline", "red.mp4", cfg)
    audio = read_audio(r.output_path)
    assert audio is not None and abs(integrated_loudness(audio) + 16.0) <= 1.0
    gap, voiced = level_db(audio, 150, 0.1, 0.45), level_db(audio, 150, 0.6, 0.95)
    assert gap - voiced > 8  # the music dips under the voice
    assert probe(r.output_path).frame_count == 50


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"clips": [{"in": 2, "out": 1}]}, "out .* must be after in"),
        ({"clips": []}, "clips"),
        ({"clips": [{}, {"transition": "spin"}]}, "unknown transition 'spin'"),
        ({"clips": [{"transition": "crossfade"}, {}]}, "clip 0 has no clip before"),
        (
            {"clips": [{"out": 0.5}, {"transition": {"type": "crossfade", "duration_s": 1.0}}]},
            "longer than the clip",
        ),
        (
            {"clips": [{}, {"out": 0.8, "transition": "crossfade"}, {}], "transition": "wipe_up"},
            "transitions into and out of clip 1",
        ),
        ({"clips": [{"bogus": 1}]}, "bogus"),
        ({"clips": [{}], "output": {"preset": "cinema"}}, "unknown preset"),
        ({"clips": [{}] * 21}, "at most 20 clips"),
        ({"clips": [{}], "music": {"music_path": "bed.m4a", "duck_ratio": 50}}, "duck_ratio"),
    ],
)
def test_bad_configs_are_config_errors(config, match):
    with pytest.raises(ConfigError, match=match):
        parse_config("timeline", config)


def test_transition_longer_than_a_clip_read_from_the_file_fails(roots):
    from core.video import run_operation

    cfg = {"clips": [{}, {"path": "blue.mp4", "transition": {"type": "fade_x", "duration_s": 1}}]}
    assert run_operation("timeline", "red.mp4", cfg, roots=roots).status == "failed"
    cfg["clips"][1]["transition"] = {"type": "crossfade", "duration_s": 1.2}  # red is 1.0 s
    r = run_operation("timeline", "red.mp4", cfg, roots=roots)
    assert r.status == "failed" and "longer than the clip" in r.error


@pytest.mark.parametrize(
    "config",
    [
        {"clips": [{}, {"path": "../secret.mp4"}]},
        {"clips": [{}, {"path": "/etc/hosts"}]},
        {"clips": [{}], "music": {"music_path": "/etc/passwd"}},
    ],
)
def test_other_paths_are_confined_to_the_media_root(roots, config):
    with pytest.raises(PathNotAllowedError, match="media root|'..'"):
        validate_operation("timeline", "red.mp4", config, roots)
