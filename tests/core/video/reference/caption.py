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
from core.video.frames import alpha_composite
from core.video.ops.base import OpConfig, OpContext, OpOutput, map_frames
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


def run(ctx: OpContext, cfg: CaptionConfig) -> OpOutput:
    w, h = ctx.even_size
    cues = cues_for(ctx, cfg)
    rendered = []
    for cue in cues:
        img = render_text(cue.text, w, h, cfg)
        x = (w - img.shape[1]) // 2
        y = {
            "bottom": int(h * 0.92) - img.shape[0],
            "top": int(h * 0.08),
            "center": (h - img.shape[0]) // 2,
        }[cfg.position]
        rendered.append((cue, img, x, y))
    fps = ctx.info.fps

    def burn(idx: list[int], frames: np.ndarray):
        for i, f in zip(idx, frames, strict=True):
            t = i / fps
            for cue, img, x, y in rendered:
                if cue.start_s <= t < cue.end_s:
                    f = alpha_composite(f, img, x, y)
            yield f

    out = map_frames(ctx, burn, (w, h))
    data = {
        "cues": [{"start_s": c.start_s, "end_s": c.end_s, "text": c.text} for c in cues],
        "boxes": [[x, y, int(img.shape[1]), int(img.shape[0])] for _, img, x, y in rendered],
    }
    return OpOutput([str(out)], data)
