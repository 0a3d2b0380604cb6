"""EBU R128 normalisation on speech-like and music-like audio with peaks."""

from __future__ import annotations

import numpy as np
import pytest

from core.video import run_operation
from core.video.config import get_video_config
from core.video.io import AudioTrack, read_audio
from core.video.loudness import integrated_loudness, normalise, true_peak_db
from core.video.synth import camera_clip, music_like, speech_like, tone

AUDIO = {"speech": speech_like, "music": music_like}


def test_reference_levels():
    # BS.1770: a 997 Hz full-scale sine in one channel reads −3.01 LUFS; its true peak 0 dBTP
    sine = tone(5.0, freq=997.0, amplitude=1.0, channels=1)
    assert abs(integrated_loudness(sine) - (-3.01)) < 0.1
    assert abs(true_peak_db(sine)) < 0.05
    # inter-sample peaks: a quarter-rate sine sampled at ±45° reads 3 dB over its samples
    n = np.arange(48_000)
    x = np.sin(np.pi / 2 * n + np.pi / 4).astype(np.float32) * 0.5
    track = AudioTrack(x[None, :], 48_000)
    assert true_peak_db(track) - 20 * np.log10(np.abs(x).max()) > 2.5


@pytest.mark.parametrize("kind", ["speech", "music"])
@pytest.mark.parametrize("target", [-14.0, -23.0])
def test_lands_within_1_lu_with_true_peak_under_the_ceiling(kind, target):
    track = AUDIO[kind](12.0)
    assert true_peak_db(track) > -1.0  # peaky: a plain gain to −14 would clip
    res = normalise(track, target, -1.0, get_video_config().loudness)
    assert abs(integrated_loudness(res.track) - target) <= 1.0
    assert abs(res.output_lufs - target) <= 1.0
    assert true_peak_db(res.track) <= -1.0
    assert res.true_peak_db <= -1.0


def test_operation_on_a_clip_with_speech(roots, media):
    camera_clip(media / "talk.mp4", width=160, height=90, frames=150, audio=speech_like(5.0))
    r = run_operation("loudness_normalize", "talk.mp4", {"target_lufs": -14}, roots=roots)
    assert r.status == "success", r.error
    d = r.data
    assert d["input_lufs"] < -20 and d["peak_limited"]
    assert abs(d["output_lufs"] + 14) <= 1.0 and d["true_peak_db"] <= -1.0
    assert abs(d["encoded_lufs"] + 14) <= 1.0
    # after AAC, measured on the file itself
    audio = read_audio(r.output_path)
    assert audio is not None and abs(integrated_loudness(audio) + 14) <= 1.0
    assert d["encoded_true_peak_db"] <= -1.0  # the limiter re-ran if AAC overshot it


def test_silence_is_refused(roots, media):
    from core.video.synth import write_frames

    silent = AudioTrack(np.zeros((2, 48_000), np.float32), 48_000)
    frames = [np.full((64, 64, 3), 90, np.uint8) for _ in range(20)]
    write_frames(media / "silent.mp4", frames, fps=20, audio=silent)
    r = run_operation("loudness_normalize", "silent.mp4", {}, roots=roots)
    assert r.status == "failed" and "silent" in r.error
