"""Captions burned in from given text or SRT subtitles (rendered with Pillow)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydantic import Field, model_validator

from core.video.errors import VideoError
from core.video.ops.base import OpConfig, OpContext, OpOutput, write_video
from core.video.pipeline import Overlay, first_frame_at
from core.video.safety import resolve_inside

_TIME = r"(\d+):(\d{2}):(\d{2})[,.](\d{1,3})"
_CUE = re.compile(_TIME + r"\s*-->\s*" + _TIME)


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str


class CaptionConfig(OpConfig):
    """Exactly one of ``text`` (shown from ``start_s`` to ``end_s``), ``srt`` (SRT
    content) or ``srt_path`` (an SRT file inside the media root)."""

    text: str | None = Field(None, min_length=1, max_length=500)
    srt: str | None = Field(None, min_length=1, max_length=200_000)
    srt_path: str | None = None
    start_s: float = Field(0.0, ge=0)
    end_s: float | None = Field(None, gt=0)
    position: Literal["bottom", "top", "center"] = "bottom"
    font_scale: float = Field(0.08, gt=0.01, le=0.3)
    color: tuple[int, int, int] = (255, 255, 255)
    box_opacity: float = Field(0.55, ge=0, le=1)

    @model_validator(mode="after")
    def _one_source(self) -> CaptionConfig:
        given = [x for x in (self.text, self.srt, self.srt_path) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of text, srt or srt_path")
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ValueError("end_s must be after start_s")
        return self


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def parse_srt(content: str) -> list[Cue]:
    """Cues of an SRT document; raises :class:`VideoError` when there are none."""
    cues: list[Cue] = []
    for block in re.split(r"\n\s*\n", content.replace("\r\n", "\n").strip()):
        lines = block.strip().split("\n")
        for k, line in enumerate(lines):
            m = _CUE.search(line)
            if m:
                g = m.groups()
                text = "\n".join(lines[k + 1 :]).strip()
                if text:
                    cues.append(Cue(_seconds(*g[:4]), _seconds(*g[4:]), text))
                break
    if not cues:
        raise VideoError("the subtitles contain no cues")
    return cues


def render_text(text: str, width: int, height: int, cfg: CaptionConfig) -> np.ndarray:
    """An RGBA caption image, wrapped to the frame width."""
    size = max(8, int(height * cfg.font_scale))
    font = ImageFont.load_default(size=size)
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in para.split():
            trial = f"{line} {word}".strip()
            if probe.textlength(trial, font=font) <= width * 0.9 or not line:
                line = trial
            else:
                lines.append(line)
                line = word
        lines.append(line)
    text_w = int(max(probe.textlength(ln, font=font) for ln in lines)) + 1
    pad, line_h = max(2, size // 4), int(size * 1.2)
    img = Image.new("RGBA", (text_w + 2 * pad, line_h * len(lines) + 2 * pad), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, img.width, img.height], fill=(0, 0, 0, int(255 * cfg.box_opacity)))
    for k, ln in enumerate(lines):
        draw.text((pad, pad + k * line_h), ln, font=font, fill=(*cfg.color, 255))
    return np.asarray(img)


def cues_for(ctx: OpContext, cfg: CaptionConfig) -> list[Cue]:
    if cfg.text is not None:
        return [Cue(cfg.start_s, cfg.end_s or ctx.info.duration_s, cfg.text)]
    if cfg.srt is not None:
        return parse_srt(cfg.srt)
    path = resolve_inside(ctx.media_root, cfg.srt_path or "", field="srt_path")
    if not path.is_file():
        raise VideoError(f"subtitle file not found: {Path(cfg.srt_path or '').name}")
    return parse_srt(path.read_text(encoding="utf-8", errors="replace"))


def paste_over(canvas: np.ndarray, rgba: np.ndarray, x: int, y: int) -> None:
    """Composite ``rgba`` over the RGBA ``canvas`` at ``(x, y)`` in place (clipped)."""
    h, w = rgba.shape[:2]
    ch, cw = canvas.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, cw), min(y + h, ch)
    if x0 >= x1 or y0 >= y1:
        return
    src = rgba[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32) / 255.0
    dst = canvas[y0:y1, x0:x1].astype(np.float32) / 255.0
    sa, da = src[..., 3:4], dst[..., 3:4]
    out_a = sa + da * (1 - sa)
    rgb = (src[..., :3] * sa + dst[..., :3] * da * (1 - sa)) / np.maximum(out_a, 1e-6)
    canvas[y0:y1, x0:x1] = np.round(np.concatenate([rgb, out_a], axis=-1) * 255).astype(np.uint8)


def band_schedule(
    placed: list[tuple[Cue, np.ndarray, int, int]], fps: float, width: int
) -> tuple[int, list[tuple[int, np.ndarray | None]], list[tuple[int, int]]]:
    """One full-width band covering every cue box: its top row, the images it shows from each
    change on (``None``: nothing), and the frame windows ``[a, b)`` with a caption."""
    top = min(y for *_, y in placed)
    top -= top % 2  # overlay on 4:2:0 frames puts images at even rows
    bottom = max(y + img.shape[0] for _, img, _, y in placed)
    windows = [(first_frame_at(c.start_s, fps), first_frame_at(c.end_s, fps)) for c, *_ in placed]
    changes = sorted({t for w in windows for t in w})
    schedule: list[tuple[int, np.ndarray | None]] = []
    for a in changes:
        active = [p for p, (s, e) in zip(placed, windows, strict=True) if s <= a < e]
        if not active:
            schedule.append((a, None))
            continue
        band = np.zeros((bottom - top, width, 4), np.uint8)
        for _, img, x, y in active:
            paste_over(band, img, x, y - top)
        schedule.append((a, band))
    if not schedule or schedule[0][0] > 0:
        schedule.insert(0, (0, None))
    shown = [(a, b) for a, b in windows if b > a]
    return top, schedule, shown


def enable_expr(windows: list[tuple[int, int]], limit: int = 200) -> str | None:
    """A timeline expression true on the frames of ``windows`` (``None`` past ``limit``)."""
    if not windows or len(windows) > limit:
        return None
    return "+".join(f"between(n,{a},{b - 1})" for a, b in windows)


def run(ctx: OpContext, cfg: CaptionConfig) -> OpOutput:
    w, h = ctx.even_size
    cues = cues_for(ctx, cfg)
    placed = []
    for cue in cues:
        img = render_text(cue.text, w, h, cfg)
        x = (w - img.shape[1]) // 2
        y = {
            "bottom": int(h * 0.92) - img.shape[0],
            "top": int(h * 0.08),
            "center": (h - img.shape[0]) // 2,
        }[cfg.position]
        placed.append((cue, img, x, y))
    top, schedule, windows = band_schedule(placed, ctx.info.fps, w)
    args = {"x": "0", "y": str(top), "format": "yuv420", "eof_action": "repeat"}
    enable = enable_expr(windows)
    if enable:
        args["enable"] = enable
    out, codecs = write_video(
        ctx, (w, h), filters=[("overlay", args)], overlays=[Overlay(0, schedule)]
    )
    data = {
        "cues": [{"start_s": c.start_s, "end_s": c.end_s, "text": c.text} for c in cues],
        "boxes": [[x, y, int(img.shape[1]), int(img.shape[0])] for _, img, x, y in placed],
        "codecs": codecs,
    }
    return OpOutput([str(out)], data)
