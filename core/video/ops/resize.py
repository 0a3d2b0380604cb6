"""Resize to platform presets (9:16, 1:1, 4:5, 16:9, named placements) by fit, fill or stretch."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from core.video.config import get_video_config
from core.video.io import even
from core.video.ops.base import OpConfig, OpContext, OpOutput, write_video
from core.video.pipeline import Filter


class ResizeConfig(OpConfig):
    """``preset`` from ``platform_presets`` or explicit ``width``/``height``.

    With a preset, giving only ``height`` (or ``width``) keeps the preset's aspect.
    ``fit`` letterboxes with ``pad_color``, ``fill`` centre-crops, ``stretch`` distorts.
    """

    preset: str | None = None
    width: int | None = Field(None, ge=16, le=4096)
    height: int | None = Field(None, ge=16, le=4096)
    mode: Literal["fit", "fill", "stretch"] = "fit"
    pad_color: tuple[int, int, int] = (0, 0, 0)

    @field_validator("preset")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        known = get_video_config().platform_presets
        if v is not None and v not in known:
            raise ValueError(f"unknown preset {v!r}; known: {sorted(known)}")
        return v

    @model_validator(mode="after")
    def _size_given(self) -> ResizeConfig:
        if self.preset is None and (self.width is None or self.height is None):
            raise ValueError("give a preset, or both width and height")
        return self

    def target(self) -> tuple[int, int]:
        """Output ``(width, height)``, even."""
        if self.preset is None:
            return even(self.width), even(self.height)  # type: ignore[arg-type]
        pw, ph = get_video_config().platform_presets[self.preset]
        if self.width and self.height:
            return even(self.width), even(self.height)
        if self.height:
            return even(self.height * pw / ph), even(self.height)
        if self.width:
            return even(self.width), even(self.width * ph / pw)
        return even(pw), even(ph)


def _scale(w: int, h: int) -> Filter:
    return ("scale", {"w": str(w), "h": str(h), "flags": "bilinear"})


def place_filters(
    src: tuple[int, int], tw: int, th: int, mode: str, pad: tuple[int, int, int]
) -> list[Filter]:
    """Filters that put a ``src`` frame into a ``tw × th`` canvas by ``mode``."""
    w, h = src
    if mode == "stretch":
        return [_scale(tw, th)]
    scale = min(tw / w, th / h) if mode == "fit" else max(tw / w, th / h)
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    if mode == "fill":
        x, y = (nw - tw) // 2, (nh - th) // 2
        return [_scale(nw, nh), ("crop", {"w": str(tw), "h": str(th), "x": str(x), "y": str(y)})]
    colour = "0x{:02x}{:02x}{:02x}".format(*pad)
    x, y = (tw - nw) // 2, (th - nh) // 2
    # pad drops the last row/column of an odd-sized 4:2:0 picture and rounds the offsets down
    # to even: scale one row/column larger, then paint the extra line with the pad colour
    sw, sh = min(nw + nw % 2, tw), min(nh + nh % 2, th)
    px, py = x - x % 2, y - y % 2
    filters = [
        _scale(sw, sh),
        ("pad", {"w": str(tw), "h": str(th), "x": str(px), "y": str(py), "color": colour}),
    ]
    for bx, by, bw, bh in ((px + nw, py, sw - nw, sh), (px, py + nh, sw, sh - nh)):
        if bw > 0 and bh > 0:
            filters.append(_box(bx, by, bw, bh, colour))
    return filters


def _box(x: int, y: int, w: int, h: int, colour: str) -> Filter:
    args = {"x": str(x), "y": str(y), "w": str(w), "h": str(h), "color": colour, "t": "fill"}
    return ("drawbox", args)


def run(ctx: OpContext, cfg: ResizeConfig) -> OpOutput:
    tw, th = cfg.target()
    filters = place_filters(ctx.even_size, tw, th, cfg.mode, cfg.pad_color)
    out, codecs = write_video(ctx, (tw, th), filters=filters)
    return OpOutput([str(out)], {"width": tw, "height": th, "mode": cfg.mode, "codecs": codecs})
