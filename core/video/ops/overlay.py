"""Logo / watermark overlay: an image from the media root or a text mark, placed and faded."""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydantic import Field, model_validator

from core.video.errors import VideoError
from core.video.ops.base import MediaRef, OpConfig, OpContext, OpOutput, write_video
from core.video.pipeline import Filter, Overlay, align_even, first_frame_at

Position = Literal["top_left", "top_right", "bottom_left", "bottom_right", "center"]


class OverlayConfig(OpConfig):
    """``image_path`` (PNG/JPEG inside the media root, or a logo/image asset: ``asset:<id>``
    or ``{"asset_id": ...}``) or ``text``; ``scale`` is the mark's width as a share of the
    video width."""

    image_path: MediaRef | None = None
    text: str | None = Field(None, min_length=1, max_length=100)
    position: Position = "bottom_right"
    scale: float = Field(0.2, gt=0, le=1)
    opacity: float = Field(0.8, ge=0, le=1)
    margin: float = Field(0.03, ge=0, le=0.4)
    start_s: float = Field(0.0, ge=0)
    end_s: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_source(self) -> OverlayConfig:
        if (self.image_path is None) == (self.text is None):
            raise ValueError("give exactly one of image_path or text")
        return self

    def media_paths(self) -> list[tuple[str, str]]:
        return [("image_path", self.image_path)] if self.image_path else []


def load_mark(ctx: OpContext, cfg: OverlayConfig, width: int) -> np.ndarray:
    """The RGBA mark, ``width`` pixels wide."""
    if cfg.image_path is not None:
        path = ctx.media(cfg.image_path, field="image_path", kinds=("logo", "image"))
        try:
            img = Image.open(path).convert("RGBA")
        except (OSError, ValueError) as exc:
            raise VideoError(f"overlay image is missing or unreadable: {path.name}") from exc
    else:
        font = ImageFont.load_default(size=64)
        probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
        left, top, right, bottom = probe.textbbox((0, 0), cfg.text or "", font=font)
        img = Image.new("RGBA", (right - left + 8, bottom - top + 8), (0, 0, 0, 0))
        ImageDraw.Draw(img).text(
            (4 - left, 4 - top), cfg.text or "", font=font, fill=(255, 255, 255, 255)
        )
    height = max(1, int(round(img.height * width / img.width)))
    return np.asarray(img.resize((width, height), Image.LANCZOS))


def with_opacity(rgba: np.ndarray, opacity: float) -> np.ndarray:
    """``rgba`` with its alpha scaled by ``opacity``."""
    out = rgba.copy()
    out[..., 3] = np.round(out[..., 3].astype(np.float32) * opacity).astype(np.uint8)
    return out


def overlay_filter(x: int, y: int, first: int, last: int | None) -> Filter:
    """An ``overlay`` at ``(x, y)`` shown on frames ``first`` to ``last - 1`` (``None``: to
    the end), blended in YUV 4:2:0."""
    args = {"x": str(x), "y": str(y), "format": "yuv420", "eof_action": "repeat"}
    if last is not None:
        args["enable"] = f"between(n,{first},{last - 1})"
    elif first > 0:
        args["enable"] = f"gte(n,{first})"
    return ("overlay", args)


def anchor(pos: str, fw: int, fh: int, mw: int, mh: int, margin: int) -> tuple[int, int]:
    """Top-left corner of a ``mw × mh`` mark at ``pos``."""
    x = {"left": margin, "right": fw - mw - margin}
    y = {"top": margin, "bottom": fh - mh - margin}
    if pos == "center":
        return (fw - mw) // 2, (fh - mh) // 2
    v, h = pos.split("_")
    return x[h], y[v]


def run(ctx: OpContext, cfg: OverlayConfig) -> OpOutput:
    w, h = ctx.even_size
    mark = load_mark(ctx, cfg, max(2, int(round(w * cfg.scale))))
    x, y = anchor(cfg.position, w, h, mark.shape[1], mark.shape[0], int(round(w * cfg.margin)))
    fps = ctx.info.fps
    first = first_frame_at(cfg.start_s, fps)
    last = first_frame_at(cfg.end_s, fps) if cfg.end_s is not None else None
    image, ex, ey = align_even(with_opacity(mark, cfg.opacity), x, y)
    out, codecs = write_video(
        ctx,
        (w, h),
        filters=[overlay_filter(ex, ey, first, last)],
        overlays=[Overlay(0, [(0, image)])],
    )
    box = [x, y, int(mark.shape[1]), int(mark.shape[0])]
    return OpOutput([str(out)], {"box": box, "codecs": codecs})
