"""Audio mixer: ducking under the voice, fades, gains, loudness target, video untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.video import ConfigError, parse_config, run_operation
from core.video.io import probe, read_audio
from core.video.loudness import integrated_loudness
from core.video.synth import tone
from tests.core.video.media import RED, audio_file, bursts, level_db, solid

VOICED, GAPS = [(0.6, 0.95), (1.6, 1.95)], [(0.1, 0.45), (2.6, 2.95)]


@pytest.fixture(scope="module", autouse=True)
def files(media: Path) -> Path:
    # 3 s: voice bursts (1 kHz) in 0.5-1.0 and 1.5-2.0 s; the bed: a 150 Hz tone, 2 s (loops)
    solid(media / "voice.mp4", RED, 60, audio=bursts(3.0, [(0.5, 1.0), (1.5, 2.0)]))
    solid(media / "mute.mp4", RED, 40)
    audio_file(media / "bed2.m4a", tone(2.0, freq=150.0, amplitude=0.3))
    return media


def music_levels(path: str, windows) -> list[float]:
    audio = read_audio(path)
    assert audio is not None
    return [level_db(audio, 150.0, a, b) for a, b in windows]


BED = {"music_path": "bed2.m4a", "fade_in_s": 0, "fade_out_s": 0}


def test_music_ducks_while_the_voice_speaks(run):
    ducked = run("audio_mix", "voice.mp4", BED).output_path
    plain = run("audio_mix", "voice.mp4", {**BED, "duck": False}).output_path
    d_voiced, d_gaps = music_levels(ducked, VOICED), music_levels(ducked, GAPS)
    assert min(d_gaps) - max(d_voiced) > 10  # at least 10 dB under the voice
    p_voiced, p_gaps = music_levels(plain, VOICED), music_levels(plain, GAPS)
    assert max(p_gaps) - min(p_voiced) < 1.5  # without ducking the bed stays level


@pytest.mark.parametrize("target", [-14.0, -20.0])
def test_mix_lands_within_1_lu_and_the_video_is_unchanged(run, target):
    r = run("audio_mix", "voice.mp4", {**BED, "target_lufs": target})
    audio = read_audio(r.output_path)
    assert audio is not None and abs(integrated_loudness(audio) - target) <= 1.0
    assert abs(r.data["encoded_lufs"] - target) <= 1.0 and r.data["ducked"]
    info = probe(r.output_path)
    assert (info.frame_count, info.width, info.height) == (60, 64, 48)
    assert abs(audio.duration_s - info.duration_s) < 1 / 20


def test_gains_and_fades(run):
    quiet = run("audio_mix", "voice.mp4", {**BED, "music_gain_db": -20, "duck": False})
    loud = run("audio_mix", "voice.mp4", {**BED, "music_gain_db": 0, "duck": False})
    # after normalisation the mix is as loud; the bed's share of it moved by the gains
    share = [music_levels(r.output_path, GAPS)[0] for r in (quiet, loud)]
    assert share[1] - share[0] > 10
    faded = run("audio_mix", "voice.mp4", {**BED, "fade_in_s": 1.5, "duck": False})
    start, later = music_levels(faded.output_path, [(0.0, 0.2), (2.6, 2.95)])
    assert later - start > 10  # fading in from silence


def test_a_video_without_audio_gets_the_music_alone(run):
    r = run("audio_mix", "mute.mp4", BED)
    assert not r.data["has_voice"] and probe(r.output_path).frame_count == 40
    audio = read_audio(r.output_path)
    assert audio is not None and abs(integrated_loudness(audio) + 14) <= 1.0


def test_missing_music_fails_per_operation(roots):
    r = run_operation("audio_mix", "voice.mp4", {"music_path": "nope.m4a"}, roots=roots)
    assert r.status == "failed" and "music file not found" in r.error


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({}, "music_path"),
        ({"music_path": "bed2.m4a", "target_lufs": 3}, "target_lufs"),
        ({"music_path": "bed2.m4a", "fade_in_s": -1}, "fade_in_s"),
        ({"music_path": "bed2.m4a", "gain": 1}, "gain"),
    ],
)
def test_bad_configs(config, match):
    with pytest.raises(ConfigError, match=match):
        parse_config("audio_mix", config)
