"""Audio mixer: a music bed under the video's own (voice) track, ducked while the voice
speaks, faded, gained, and normalised to an EBU R128 target; the video stream is copied.

The mix is :func:`core.video.mixing.mix_bed` (the timeline's ``music`` runs the same
function); normalisation and the AAC true-peak check are ``loudness_normalize``'s.
"""

from __future__ import annotations

from pydantic import Field

from core.video.config import get_video_config
from core.video.io import read_audio
from core.video.mixing import MusicBed, load_music, mix_bed
from core.video.ops.base import OpContext, OpOutput
from core.video.ops.loudness_normalize import normalise_into


class AudioMixConfig(MusicBed):
    """A :class:`~core.video.mixing.MusicBed` plus the mix's loudness target (LUFS) and
    true-peak ceiling (dBTP); defaults from ``mixing`` in ``configs/video.yaml``."""

    target_lufs: float = Field(
        default_factory=lambda: get_video_config().mixing.target_lufs, ge=-70, le=0
    )
    peak_db: float = Field(default_factory=lambda: get_video_config().mixing.peak_db, ge=-20, le=0)


def run(ctx: OpContext, cfg: AudioMixConfig) -> OpOutput:
    music = load_music(ctx, cfg)
    voice = read_audio(ctx.path)
    rate = voice.rate if voice is not None else ctx.video_config.timeline.audio_rate
    n = int(round(ctx.info.frame_count / ctx.info.fps * rate))  # the video's length
    mix = mix_bed(voice, music, cfg, n, rate)
    out, data = normalise_into(ctx, mix, cfg.target_lufs, cfg.peak_db)
    data.update(
        has_voice=voice is not None,
        ducked=cfg.duck and voice is not None,
        duration_s=round(n / rate, 4),
    )
    return OpOutput([str(out)], data)
