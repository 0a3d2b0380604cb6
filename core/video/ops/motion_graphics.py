"""Motion graphics: keyframed text and image layers, plus lower-third and end-card presets.

Each layer's position ``(x, y)``, ``scale`` and ``opacity`` follow its keyframes (easing per
segment, see :mod:`core.video.keyframes`); presets expand into such layers. Text is rendered
with Pillow (a font asset, or the default font ``caption`` uses), images come from the media
root or the tenant's asset library, and everything is drawn by libavfilter's ``overlay``
(:mod:`core.video.sprites`).
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from PIL import Image
from pydantic import Field, field_validator, model_validator

from core.video.config import get_video_config
from core.video.errors import VideoError
from core.video.keyframes import BEZIER_PRESETS, EASINGS, Keyframe
from core.video.ops.base import MediaRef, OpConfig, OpContext, OpOutput, write_video
from core.video.pipeline import Filter, Overlay, first_frame_at
from core.video.sprites import Font, Sprite, load_font, sprite_overlay, text_image

RGB = tuple[int, int, int]
Bezier = tuple[float, float, float, float]


class KeyframeIn(OpConfig):
    """The layer at ``t`` seconds; ``easing`` (a name or cubic-bezier control points
    ``[x1, y1, x2, y2]``) shapes the way to the next keyframe."""

    t: float = Field(..., ge=0)
    x: float
    y: float
    scale: float = Field(1.0, gt=0, le=20)
    opacity: float = Field(1.0, ge=0, le=1)
    easing: str | Bezier = "linear"

    @field_validator("easing")
    @classmethod
    def _known(cls, v: str | Bezier) -> str | Bezier:
        if isinstance(v, str) and v not in EASINGS:
            raise ValueError(f"unknown easing {v!r}; known: {', '.join(EASINGS)}")
        if isinstance(v, tuple) and not (0 <= v[0] <= 1 and 0 <= v[2] <= 1):
            raise ValueError("cubic-bezier x1 and x2 must be within 0..1")
        return v


class _Layer(OpConfig):
    """``units``: ``relative`` positions are shares of the frame width / height, ``px``
    pixels; ``anchor``: which point of the layer ``(x, y)`` places."""

    keyframes: list[KeyframeIn] = Field(..., min_length=1)
    units: Literal["relative", "px"] = "relative"
    anchor: Literal["top_left", "center"] = "top_left"

    @field_validator("keyframes")
    @classmethod
    def _ordered(cls, v: list[KeyframeIn]) -> list[KeyframeIn]:
        limit = get_video_config().motion_graphics.max_keyframes
        if len(v) > limit:
            raise ValueError(f"at most {limit} keyframes per layer")
        if any(b.t <= a.t for a, b in zip(v, v[1:], strict=False)):
            raise ValueError("keyframe times must increase")
        return v


class TextLayer(_Layer):
    type: Literal["text"]
    text: str = Field(..., min_length=1, max_length=200)
    font: MediaRef | None = None  # a font file or font asset; default: Pillow's default font
    font_scale: float | None = Field(None, gt=0, le=0.5)  # share of the frame height
    color: RGB = (255, 255, 255)
    background: tuple[int, int, int, int] | None = None  # RGBA box behind the text


class ImageLayer(_Layer):
    type: Literal["image"]
    image: MediaRef  # PNG/JPEG/WebP in the media root, or a logo/image asset
    width: float = Field(0.2, gt=0, le=2)  # at scale 1, share of the frame width


class LowerThird(OpConfig):
    """A name / title bar sliding in from the side, held, then sliding out."""

    type: Literal["lower_third"]
    name: str = Field(..., min_length=1, max_length=100)
    title: str | None = Field(None, min_length=1, max_length=100)
    start_s: float = Field(0.5, ge=0)
    duration_s: float = Field(4.0, gt=0)
    slide_s: float = Field(0.5, gt=0)
    side: Literal["left", "right"] = "left"
    bar_color: RGB = (20, 20, 28)
    bar_opacity: float = Field(0.85, ge=0, le=1)
    accent_color: RGB = (255, 196, 0)
    text_color: RGB = (255, 255, 255)
    font: MediaRef | None = None
    font_scale: float = Field(0.05, gt=0, le=0.3)

    @model_validator(mode="after")
    def _fits(self) -> LowerThird:
        if 2 * self.slide_s >= self.duration_s:
            raise ValueError("duration_s must be longer than twice slide_s")
        return self


class EndCard(OpConfig):
    """The last ``duration_s`` seconds: a background fading in, the CTA text scaling up,
    and an optional logo above it."""

    type: Literal["end_card"]
    cta: str = Field(..., min_length=1, max_length=120)
    duration_s: float = Field(2.5, gt=0)
    fade_s: float = Field(0.4, gt=0)
    background: RGB = (0, 0, 0)
    background_opacity: float = Field(0.85, ge=0, le=1)
    text_color: RGB = (255, 255, 255)
    logo: MediaRef | None = None
    logo_width: float = Field(0.3, gt=0, le=1)  # share of the frame width
    font: MediaRef | None = None
    font_scale: float = Field(0.08, gt=0, le=0.3)


Layer = Annotated[TextLayer | ImageLayer | LowerThird | EndCard, Field(discriminator="type")]


class MotionGraphicsConfig(OpConfig):
    """``layers`` drawn in order (later ones on top)."""

    layers: list[Layer] = Field(..., min_length=1)

    @field_validator("layers")
    @classmethod
    def _bounded(cls, v: list[Layer]) -> list[Layer]:
        limit = get_video_config().motion_graphics.max_layers
        if len(v) > limit:
            raise ValueError(f"at most {limit} layers")
        return v


def _font(ctx: OpContext, ref: MediaRef | None, size: int) -> Font:
    path = None if ref is None else ctx.media(ref, field="font", kinds=("font",))
    try:
        return load_font(path, size)
    except OSError as exc:
        raise VideoError("the font cannot be loaded") from exc


def _image(ctx: OpContext, ref: MediaRef, width: int, field: str) -> np.ndarray:
    path = ctx.media(ref, field=field, kinds=("logo", "image"))
    try:
        img = Image.open(path).convert("RGBA")
    except (OSError, ValueError) as exc:
        raise VideoError(f"{field} is missing or unreadable: {path.name}") from exc
    height = max(1, round(img.height * width / img.width))
    return np.asarray(img.resize((max(1, width), height), Image.LANCZOS))


def _keys(layer: _Layer, w: int, h: int) -> list[Keyframe]:
    sx, sy = (w, h) if layer.units == "relative" else (1, 1)
    return [
        Keyframe(k.t, k.x * sx, k.y * sy, k.scale, k.opacity, k.easing) for k in layer.keyframes
    ]


def _lower_third(ctx: OpContext, lt: LowerThird, w: int, h: int) -> Sprite:
    size = max(8, round(h * lt.font_scale))
    lines = [(lt.name, _font(ctx, lt.font, size), lt.text_color)]
    if lt.title:
        lines.append((lt.title, _font(ctx, lt.font, max(8, round(size * 0.7))), lt.text_color))
    alpha = round(255 * lt.bar_opacity)
    img = text_image(lines, background=(*lt.bar_color, alpha), pad=max(4, size // 3)).copy()
    img[:, : max(3, size // 6)] = (*lt.accent_color, 255)  # accent stripe
    bw = img.shape[1]
    margin = round(w * 0.05)
    y = h - round(h * 0.1) - img.shape[0]
    home, away = (margin, -bw) if lt.side == "left" else (w - bw - margin, w)
    t0, t1 = lt.start_s, lt.start_s + lt.duration_s
    keys = [
        Keyframe(t0, away, y, easing="ease_out"),
        Keyframe(t0 + lt.slide_s, home, y, easing="hold"),
        Keyframe(t1 - lt.slide_s, home, y, easing="ease_in"),
        Keyframe(t1, away, y),
    ]
    return Sprite(img, keys, first=first_frame_at(t0, ctx.info.fps))


def _end_card(ctx: OpContext, ec: EndCard, w: int, h: int) -> list[Sprite]:
    end = ctx.info.frame_count / ctx.info.fps
    t0 = max(0.0, end - ec.duration_s)
    fade = min(ec.fade_s, ec.duration_s)
    first = first_frame_at(t0, ctx.info.fps)
    bg = np.zeros((h, w, 4), np.uint8)
    bg[...] = (*ec.background, round(255 * ec.background_opacity))
    fade_in = [Keyframe(t0, 0, 0, opacity=0.0), Keyframe(t0 + fade, 0, 0)]
    sprites = [Sprite(bg, fade_in, first=first)]
    size = max(8, round(h * ec.font_scale))
    cta = text_image([(ec.cta, _font(ctx, ec.font, size), ec.text_color)], pad=size // 4)
    cy = h * (0.62 if ec.logo is not None else 0.5)
    grow = [
        Keyframe(t0, w / 2, cy, scale=0.8, opacity=0.0, easing="ease_out"),
        Keyframe(t0 + fade, w / 2, cy),
    ]
    sprites.append(Sprite(cta, grow, anchor="center", first=first))
    if ec.logo is not None:
        logo = _image(ctx, ec.logo, max(2, round(w * ec.logo_width)), "logo")
        at = [Keyframe(k.t, w / 2, h * 0.36, opacity=k.opacity) for k in fade_in]
        sprites.append(Sprite(logo, at, anchor="center", first=first))
    return sprites


def sprites_of(ctx: OpContext, cfg: MotionGraphicsConfig, w: int, h: int) -> list[Sprite]:
    """Every layer (presets expanded) as sprites, bottom first."""
    vc = get_video_config().motion_graphics
    out: list[Sprite] = []
    for layer in cfg.layers:
        if isinstance(layer, TextLayer):
            size = max(8, round(h * (layer.font_scale or vc.font_scale)))
            img = text_image(
                [(layer.text, _font(ctx, layer.font, size), layer.color)],
                background=layer.background,
                pad=size // 4,
            )
            out.append(Sprite(img, _keys(layer, w, h), layer.anchor))
        elif isinstance(layer, ImageLayer):
            img = _image(ctx, layer.image, max(2, round(w * layer.width)), "image")
            out.append(Sprite(img, _keys(layer, w, h), layer.anchor))
        elif isinstance(layer, LowerThird):
            out.append(_lower_third(ctx, layer, w, h))
        else:
            out.extend(_end_card(ctx, layer, w, h))
    if len(out) > vc.max_layers * 3:
        raise VideoError("too many layers")
    return out


def run(ctx: OpContext, cfg: MotionGraphicsConfig) -> OpOutput:
    w, h = ctx.even_size
    n, fps = ctx.info.frame_count, ctx.info.fps
    filters: list[Filter] = []
    overlays: list[Overlay] = []
    sprites = sprites_of(ctx, cfg, w, h)
    for sprite in sprites:
        drawn = sprite_overlay(sprite, n, fps, len(filters))
        if drawn is not None:
            filters.append(drawn[0])
            overlays.append(drawn[1])
    if not filters:
        raise VideoError("no layer is visible during the clip")
    out, codecs = write_video(ctx, (w, h), filters=filters, overlays=overlays)
    data = {"layers": len(cfg.layers), "sprites": len(sprites), "drawn": len(filters)}
    return OpOutput([str(out)], {**data, "codecs": codecs})


__all__ = ["BEZIER_PRESETS", "MotionGraphicsConfig", "run"]
