"""Trim to a time range (frame-accurate: seek to the key frame before, decode from there,
re-encode the kept frames; audio cut to the same span)."""

from __future__ import annotations

from pydantic import Field, model_validator

from core.video.errors import VideoError
from core.video.io import read_audio
from core.video.ops.base import OpConfig, OpContext, OpOutput, write_video


class TrimConfig(OpConfig):
    """Keep ``start_s`` up to ``end_s`` (or ``start_s + duration_s``; default: the end)."""

    start_s: float = Field(0.0, ge=0)
    end_s: float | None = Field(None, gt=0)
    duration_s: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _range(self) -> TrimConfig:
        if self.end_s is not None and self.duration_s is not None:
            raise ValueError("give end_s or duration_s, not both")
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ValueError("end_s must be after start_s")
        return self


def frame_range(cfg: TrimConfig, fps: float, frame_count: int) -> tuple[int, int]:
    """``[first, last)`` frame indices of the kept range."""
    end_s = (
        cfg.end_s
        if cfg.end_s is not None
        else (cfg.start_s + cfg.duration_s if cfg.duration_s is not None else frame_count / fps)
    )
    a = int(round(cfg.start_s * fps))
    b = min(int(round(end_s * fps)), frame_count)
    if a >= frame_count:
        raise VideoError(f"start_s {cfg.start_s} is past the end ({frame_count / fps:.2f} s)")
    return a, max(b, a + 1)


def run(ctx: OpContext, cfg: TrimConfig) -> OpOutput:
    fps = ctx.info.fps
    a, b = frame_range(cfg, fps, ctx.info.frame_count)
    audio = read_audio(ctx.path)
    track = audio.slice_s(a / fps, b / fps) if audio else None
    out, codecs = write_video(ctx, ctx.even_size, frames=(a, b), audio=track)
    data = {"start_s": a / fps, "end_s": b / fps, "frames": b - a, "duration_s": (b - a) / fps}
    return OpOutput([str(out)], {**data, "codecs": codecs})
