"""A music bed under a voice track: gains, fades, ducking keyed by the voice, one mix.

Used by ``audio_mix`` and by a timeline's ``music``; :func:`mix_bed` is the one way in. The
graph: voice → ``volume`` → ``asplit`` (mix, key); music → ``volume`` → ``afade`` in/out →
``sidechaincompress`` (keyed by the voice) → ``amix`` with the voice (no normalisation).
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from core.video.audiograph import chain, conform, filter_audio, join
from core.video.config import Loudness, get_video_config
from core.video.errors import VideoError
from core.video.io import AudioTrack, read_audio
from core.video.loudness import Normalised, normalise
from core.video.ops.base import OpConfig, OpContext
from core.video.safety import resolve_inside


def _mix(name: str):  # noqa: ANN202 - a pydantic default factory
    return lambda: getattr(get_video_config().mixing, name)


def _duck(name: str):  # noqa: ANN202
    return lambda: getattr(get_video_config().mixing.duck, name)


class MusicBed(OpConfig):
    """``music_path`` (audio or video with audio, inside the media root) laid under the
    voice from ``music_start_s`` into the music, looped when shorter; gains in dB; fades of
    the music in seconds; ``duck`` lowers the music while the voice is above
    ``duck_threshold_db`` (defaults: ``mixing`` in ``configs/video.yaml``)."""

    music_path: str = Field(..., min_length=1, max_length=1024)
    music_gain_db: float = Field(default_factory=_mix("music_gain_db"), ge=-60, le=20)
    voice_gain_db: float = Field(0.0, ge=-60, le=20)
    fade_in_s: float = Field(default_factory=_mix("fade_in_s"), ge=0, le=30)
    fade_out_s: float = Field(default_factory=_mix("fade_out_s"), ge=0, le=30)
    music_start_s: float = Field(0.0, ge=0)
    loop: bool = True
    duck: bool = True
    duck_threshold_db: float = Field(default_factory=_duck("threshold_db"), ge=-60, le=0)
    duck_ratio: float = Field(default_factory=_duck("ratio"), ge=1, le=20)
    duck_attack_ms: float = Field(default_factory=_duck("attack_ms"), ge=0.01, le=2000)
    duck_release_ms: float = Field(default_factory=_duck("release_ms"), ge=0.01, le=9000)

    def media_paths(self) -> list[tuple[str, str]]:
        return [("music_path", self.music_path)]


def load_music(ctx: OpContext, bed: MusicBed) -> AudioTrack:
    """The bed's audio, decoded (path confined to the media root)."""
    path = resolve_inside(ctx.media_root, bed.music_path, field="music_path")
    if not path.is_file():
        raise VideoError(f"music file not found: {path.name}")
    try:
        track = read_audio(path)
    except (OSError, ValueError) as exc:
        raise VideoError(f"music file is not readable audio: {path.name}") from exc
    except Exception as exc:  # av.FFmpegError and friends
        raise VideoError(f"music file is not readable audio: {path.name} ({exc})") from exc
    if track is None:
        raise VideoError(f"music file has no audio stream: {path.name}")
    return track


def _lay(music: AudioTrack, bed: MusicBed, rate: int, n: int) -> AudioTrack:
    """The music from ``music_start_s``, looped (or padded with silence) to ``n`` samples."""
    track = conform(music, rate, music.samples.shape[1] * rate // music.rate)
    data = track.samples[:, int(round(bed.music_start_s * rate)) :]
    if data.shape[1] == 0:
        raise VideoError("music_start_s is past the end of the music")
    if bed.loop and data.shape[1] < n:
        data = np.tile(data, (1, math.ceil(n / data.shape[1])))
    return conform(AudioTrack(data, rate), rate, n)


def mix_bed(
    voice: AudioTrack | None, music: AudioTrack, bed: MusicBed, n: int, rate: int
) -> AudioTrack:
    """``voice`` (``None``: none) with ``music`` under it: stereo, ``n`` samples at ``rate``."""
    laid = _lay(music, bed, rate, n)
    dur = n / rate
    fades = [("volume", {"volume": f"{bed.music_gain_db}dB"})]
    if bed.fade_in_s > 0:
        fades.append(("afade", {"t": "in", "st": "0", "d": f"{min(bed.fade_in_s, dur):.6f}"}))
    if bed.fade_out_s > 0:
        d = min(bed.fade_out_s, dur)
        fades.append(("afade", {"t": "out", "st": f"{dur - d:.6f}", "d": f"{d:.6f}"}))
    if voice is None:
        return filter_audio([laid], lambda g, src: chain(g, src[0], *fades))
    voice = conform(voice, rate, n)

    def build(graph, src):  # noqa: ANN001, ANN202
        m = chain(graph, src[1], *fades)
        v = chain(graph, src[0], ("volume", {"volume": f"{bed.voice_gain_db}dB"}))
        if bed.duck:
            split = graph.add("asplit", outputs="2")
            v.link_to(split)
            music, m = (
                m,
                graph.add(
                    "sidechaincompress",
                    threshold=f"{10 ** (bed.duck_threshold_db / 20):.6f}",
                    ratio=str(bed.duck_ratio),
                    attack=str(bed.duck_attack_ms),
                    release=str(bed.duck_release_ms),
                ),
            )
            music.link_to(m, 0, 0)
            split.link_to(m, 1, 1)
            v = split
        return join(graph, "amix", v, m, inputs="2", normalize="0", duration="first")

    return conform(filter_audio([voice, laid], build), rate, n)


def to_loudness(
    track: AudioTrack, target_lufs: float, peak_db: float, settings: Loudness
) -> Normalised:
    """EBU R128 normalisation of a mix (:func:`core.video.loudness.normalise`)."""
    try:
        return normalise(track, target_lufs, peak_db, settings)
    except ValueError as exc:
        raise VideoError("the mix is silent; loudness cannot be normalised") from exc
