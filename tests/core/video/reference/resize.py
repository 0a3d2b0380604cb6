"""Resize to platform presets (9:16, 1:1, 4:5, 16:9, named placements) by fit, fill or stretch."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from core.video.config import get_video_config
from core.video.frames import resize
from core.video.io import even
from core.video.ops.base import OpConfig, OpContext, OpOutput, map_frames


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


def place(frame: np.ndarray, tw: int, th: int, mode: str, pad: tuple[int, int, int]) -> np.ndarray:
    """One frame into a ``tw × th`` canvas by ``mode``."""
    h, w = frame.shape[:2]
    if mode == "stretch":
        return resize(frame, tw, th)
    scale = min(tw / w, th / h) if mode == "fit" else max(tw / w, th / h)
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    img = resize(frame, nw, nh)
    if mode == "fill":
        x, y = (nw - tw) // 2, (nh - th) // 2
        return img[y : y + th, x : x + tw]
    canvas = np.empty((th, tw, 3), dtype=np.uint8)
    canvas[:] = pad
    x, y = (tw - nw) // 2, (th - nh) // 2
    canvas[y : y + nh, x : x + nw] = img[: th - y, : tw - x]
    return canvas


def run(ctx: OpContext, cfg: ResizeConfig) -> OpOutput:
    tw, th = cfg.target()
    out = map_frames(
        ctx, lambda _i, fr: (place(f, tw, th, cfg.mode, cfg.pad_color) for f in fr), (tw, th)
    )
    return OpOutput([str(out)], {"width": tw, "height": th, "mode": cfg.mode})
