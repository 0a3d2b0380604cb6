"""Previews: a low-resolution H.264 proxy and short animated GIF / WebP loops.

The proxy is the whole clip scaled to ``proxy_height`` at a low quality (CRF); the animated
previews take ``duration_s`` from ``start_s`` at ``fps``, ``width`` wide. GIFs get a palette
made for the clip (libavfilter ``palettegen`` → ``paletteuse``, one graph); WebP uses
``libwebp_anim``. Every bound comes from ``previews`` in ``configs/video.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import av
import numpy as np
from pydantic import Field, model_validator

from core.video.config import PreviewDefaults, get_video_config
from core.video.errors import VideoError
from core.video.io import FrameReader
from core.video.ops.base import OpConfig, OpContext, OpOutput, write_video
from core.video.pipeline import frame_rate

Format = Literal["proxy", "gif", "webp"]


class PreviewConfig(OpConfig):
    """Which previews to make; unset values come from the config's defaults, and values over
    its maxima are refused."""

    formats: list[Format] = Field(default_factory=lambda: ["proxy", "gif"], min_length=1)
    start_s: float = Field(0.0, ge=0)
    duration_s: float | None = Field(None, gt=0)
    width: int | None = Field(None, ge=16)
    fps: float | None = Field(None, gt=0)
    proxy_height: int | None = Field(None, ge=64)

    @model_validator(mode="after")
    def _within_limits(self) -> PreviewConfig:
        pc = get_video_config().previews
        for name, value, limit in (
            ("duration_s", self.duration_s, pc.max_duration_s),
            ("width", self.width, pc.max_width),
            ("fps", self.fps, pc.max_fps),
            ("proxy_height", self.proxy_height, pc.proxy_height),
        ):
            if value is not None and value > limit:
                raise ValueError(f"{name} is at most {limit}")
        if len(set(self.formats)) != len(self.formats):
            raise ValueError("formats must not repeat")
        return self


def _even(v: float) -> int:
    return max(2, int(round(v / 2)) * 2)


def proxy(ctx: OpContext, height: int, pc: PreviewDefaults) -> tuple[Path, dict]:
    """The whole clip at ``height`` (never upscaled), low quality."""
    w, h = ctx.even_size
    ph = min(_even(height), h)
    pw = _even(w * ph / h)
    scale = ("scale", {"w": str(pw), "h": str(ph), "flags": "bilinear"})
    out, codecs = write_video(
        ctx,
        (pw, ph),
        filters=[scale],
        out=ctx.video_output("_proxy"),
        crf=pc.proxy_crf,
        preset=pc.proxy_preset,
    )
    return out, {"width": pw, "height": ph, "codecs": codecs}


def sample_frames(ctx: OpContext, start_s: float, duration_s: float, fps: float) -> list[int]:
    """Source frame indices of an animated preview: the frame shown at each output time."""
    info = ctx.info
    if start_s >= info.duration_s:
        raise VideoError(f"start_s {start_s} is past the end ({info.duration_s:.2f} s)")
    n = max(1, int(round(min(duration_s, info.duration_s - start_s) * fps)))
    times = start_s + np.arange(n) / fps
    idx = np.minimum(np.floor(times * info.fps + 1e-6).astype(int), info.frame_count - 1)
    return [int(i) for i in idx]


def _gif(frames: np.ndarray, fps: float, out: Path, colors: int) -> None:
    n, h, w = frames.shape[:3]
    rate = frame_rate(fps)
    graph = av.filter.Graph()
    src = graph.add_buffer(width=w, height=h, format="rgb24", time_base=1 / rate)
    split = graph.add("split")
    gen = graph.add("palettegen", max_colors=str(colors), stats_mode="full")
    use = graph.add("paletteuse", dither="bayer", bayer_scale="3")
    sink = graph.add("buffersink")
    src.link_to(split)
    split.link_to(use, 0, 0)
    split.link_to(gen, 1, 0)
    gen.link_to(use, 0, 1)
    use.link_to(sink)
    graph.configure()
    with av.open(str(out), "w", format="gif") as container:
        stream = container.add_stream("gif", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "pal8"
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = i, 1 / rate
            src.push(frame)
        src.push(None)
        while True:  # the palette exists only once every frame is in
            try:
                container.mux(stream.encode(sink.pull()))
            except (av.error.BlockingIOError, av.error.EOFError):
                break
        container.mux(stream.encode(None))


def _webp(frames: np.ndarray, fps: float, out: Path, quality: int) -> None:
    h, w = frames.shape[1:3]
    rate = frame_rate(fps)
    with av.open(str(out), "w", format="webp") as container:
        stream = container.add_stream("libwebp_anim", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"quality": str(quality), "loop": "0"}
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = i, 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def run(ctx: OpContext, cfg: PreviewConfig) -> OpOutput:
    pc = ctx.video_config.previews
    outputs: list[str] = []
    data: dict = {}
    if "proxy" in cfg.formats:
        out, data["proxy"] = proxy(ctx, cfg.proxy_height or pc.proxy_height, pc)
        outputs.append(str(out))
    animated = [f for f in cfg.formats if f != "proxy"]
    if animated:
        fps = min(cfg.fps or pc.fps, ctx.info.fps)
        w, h = ctx.even_size
        aw = min(_even(cfg.width or pc.width), w)
        ah = _even(h * aw / w)
        indices = sample_frames(ctx, cfg.start_s, cfg.duration_s or pc.duration_s, fps)
        reader = FrameReader(ctx.path, width=aw, height=ah)
        frames = np.ascontiguousarray(reader.get(indices))
        stem = Path(ctx.info.path).stem
        for fmt in animated:
            out = ctx.output(f"{stem}_preview.{fmt}")
            if fmt == "gif":
                _gif(frames, fps, out, pc.gif_colors)
            else:
                _webp(frames, fps, out, pc.webp_quality)
            outputs.append(str(out))
            data[fmt] = {"width": aw, "height": ah, "fps": fps, "frames": len(indices)}
    return OpOutput(outputs, data)
