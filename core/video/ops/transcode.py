"""Transcode: codec, quality, frame rate and container."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from core.video.io import AudioTrack, available_codec, read_audio
from core.video.ops.base import OpConfig, OpContext, OpOutput, write_video

CODECS = {"h264": "libx264", "mpeg4": "mpeg4"}


class TranscodeConfig(OpConfig):
    """``codec`` h264/mpeg4; ``crf`` (h264 quality); ``fps`` resamples frames; ``container``.

    The audio is copied as it is unless ``audio_bitrate`` asks for a new encoding (or the
    container cannot take its codec)."""

    codec: Literal["h264", "mpeg4"] = "h264"
    crf: int | None = Field(None, ge=0, le=51)
    preset: (
        Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"] | None
    ) = None
    fps: float | None = Field(None, gt=0, le=120)
    container: Literal["mp4", "mkv", "mov"] = "mp4"
    audio_bitrate: int | None = Field(None, ge=16_000, le=512_000)
    drop_audio: bool = False


def run(ctx: OpContext, cfg: TranscodeConfig) -> OpOutput:
    info = ctx.info
    fps = cfg.fps or info.fps
    n_out = max(1, int(round(info.frame_count * fps / info.fps)))
    src = np.minimum(np.floor(np.arange(n_out) * info.fps / fps).astype(int), info.frame_count - 1)
    codec = available_codec(CODECS[cfg.codec], ctx.video_config.encoding.fallback_codec)
    audio: AudioTrack | bool | None = not cfg.drop_audio
    if audio and cfg.audio_bitrate is not None:  # a new bitrate: decode and encode again
        track = read_audio(ctx.path)
        audio = track.slice_s(0, n_out / fps) if track is not None else None
    out = ctx.output_dir / f"{ctx.video_output().stem}.{cfg.container}"
    _, codecs = write_video(
        ctx,
        ctx.even_size,
        out=out,
        fps=fps,
        repeats=np.bincount(src, minlength=info.frame_count),
        audio=audio,
        audio_bitrate=cfg.audio_bitrate,
        codec=codec,
        crf=cfg.crf,
        preset=cfg.preset,
    )
    data = {"codec": codecs["encoder"], "fps": fps, "frames": n_out, "container": cfg.container}
    return OpOutput([str(out)], {**data, "codecs": codecs})
