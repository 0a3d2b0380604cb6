"""Transcode: codec, quality, frame rate and container."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from core.video.io import available_codec, read_audio
from core.video.ops.base import OpConfig, OpContext, OpOutput, map_frames

CODECS = {"h264": "libx264", "mpeg4": "mpeg4"}


class TranscodeConfig(OpConfig):
    """``codec`` h264/mpeg4; ``crf`` (h264 quality); ``fps`` resamples frames; ``container``."""

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
    uniq = sorted(set(src.tolist()))

    def expand(idx: list[int], frames: np.ndarray):
        pos = dict(zip(idx, frames, strict=True))
        lo, hi = np.searchsorted(src, [idx[0], idx[-1] + 1])
        return [pos[int(s)] for s in src[lo:hi]]

    codec = available_codec(CODECS[cfg.codec], ctx.video_config.encoding.fallback_codec)
    audio = None if cfg.drop_audio else read_audio(ctx.path)
    if audio is not None:
        audio = audio.slice_s(0, n_out / fps)
    out = ctx.output_dir / f"{ctx.video_output().stem}.{cfg.container}"
    map_frames(
        ctx,
        expand,
        ctx.even_size,
        indices=uniq,
        audio=audio,
        out=out,
        fps=fps,
        codec=codec,
        crf=cfg.crf,
        preset=cfg.preset,
        audio_bitrate=cfg.audio_bitrate,
    )
    return OpOutput(
        [str(out)], {"codec": codec, "fps": fps, "frames": n_out, "container": cfg.container}
    )
