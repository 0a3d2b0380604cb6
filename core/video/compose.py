"""Several clips into one video through one libavfilter graph (PyAV), frames in YUV.

Each clip has its own ``buffer`` source and chain (even crop, scale/pad to the output size,
``format``, ``setsar``); consecutive clips meet in an ``xfade`` (a transition ``overlap``
frames long) or a ``concat`` (a cut). Clips are decoded one after the other (key-frame seek
to the in point) and each output frame of a clip is pushed with its index as timestamp, so
speed changes and frame-rate changes are exact frame maps, not filter guesses: a timeline
of clips ``n_i`` frames long with overlaps ``d_i`` is ``Σ n_i − Σ d_i`` frames.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from core.video.config import VideoConfig
from core.video.io import AudioTrack, use_gpu
from core.video.pipeline import (
    CodecReport,
    Filter,
    Sink,
    Source,
    frame_rate,
    frames_from,
    run_ahead,
    threads,
)


@dataclass(frozen=True)
class ClipFrames:
    """One clip of the output: ``sources[j]`` is the source frame shown as its frame ``j``;
    ``filters`` fit it to the output; ``transition`` (an ``xfade`` name, ``None``: a cut)
    and ``overlap`` (frames) join it to the clip before."""

    path: Path
    fps: float
    sources: np.ndarray
    filters: Sequence[Filter] = ()
    transition: str | None = None
    overlap: int = 0

    @property
    def frames(self) -> int:
        return len(self.sources)


@dataclass
class _Graph:
    graph: av.filter.Graph
    sources: list[av.filter.context.FilterContext]
    sink: av.filter.context.FilterContext
    rate: Fraction
    offsets: list[int] = field(default_factory=list)  # xfade offsets, frames


def output_frames(clips: Sequence[ClipFrames]) -> int:
    """Frames of the joined output."""
    return sum(c.frames for c in clips) - sum(c.overlap for c in clips[1:])


def _build(
    clips: Sequence[ClipFrames], heads: Sequence[av.VideoFrame], rate: Fraction, pix_fmt: str
) -> _Graph:
    g = av.filter.Graph()
    g.threads = threads()
    tb = str(1 / rate)
    sources, tails = [], []
    for k, (clip, head) in enumerate(zip(clips, heads, strict=True)):
        node = g.add(
            "buffer", name=f"clip{k}", video_size=f"{head.width}x{head.height}",
            pix_fmt=str(int(head.format)), time_base=tb, pixel_aspect="1/1",
            frame_rate=str(rate),
        )  # fmt: skip
        sources.append(node)
        for name, args in [*clip.filters, ("format", {"pix_fmts": pix_fmt}), ("setsar", {})]:
            nxt = g.add(name, **args)
            node.link_to(nxt)
            node = nxt
        tails.append(node)
    out, length, offsets = tails[0], clips[0].frames, []
    for clip, tail in zip(clips[1:], tails[1:], strict=True):
        if clip.transition is None:
            joint = g.add("concat", n="2", v="1", a="0")
        else:
            offset = length - clip.overlap
            joint = g.add(
                "xfade", transition=clip.transition,
                duration=f"{float(clip.overlap / rate):.9f}", offset=f"{float(offset / rate):.9f}",
            )  # fmt: skip
            offsets.append(offset)
        out.link_to(joint, 0, 0)
        tail.link_to(joint, 0, 1)
        out, length = joint, length + clip.frames - clip.overlap
    sink = g.add("buffersink")
    out.link_to(sink)
    g.configure()
    return _Graph(g, sources, sink, rate, offsets)


def _drain(sink: av.filter.context.FilterContext) -> Iterator[av.VideoFrame]:
    while True:
        try:
            yield sink.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return


class _Clips:
    """Open clip sources, each with its first wanted frame decoded (the graph needs every
    input's size and pixel format before it is configured)."""

    def __init__(self, clips: Sequence[ClipFrames], vc: VideoConfig, report: CodecReport):
        self.gpu = vc.gpu_codecs if vc.gpu_codecs.enabled and use_gpu.get() else None
        self.opened: list[tuple[Source, Iterator]] = []
        self.heads: list[tuple[int, av.VideoFrame]] = []
        try:
            for k, clip in enumerate(clips):
                src = Source(clip.path, gpu=self.gpu, report=report if k == 0 else CodecReport())
                first = int(clip.sources[0])
                src, items = frames_from(src, clip.path, first, clip.fps, gpu=self.gpu)
                self.opened.append((src, items))
                head = next(((i, f) for i, f in items if i >= first), None)
                if head is None:
                    raise ValueError(f"{clip.path.name}: no frame at or after {first}")
                self.heads.append(head)
        except BaseException:
            self.close()
            raise

    def frames(self, k: int) -> Iterator[tuple[int, av.VideoFrame]]:
        yield self.heads[k]
        yield from self.opened[k][1]

    def close(self) -> None:
        for src, _ in self.opened:
            src.close()


def _produce(clips: Sequence[ClipFrames], opened: _Clips, g: _Graph) -> Iterator[av.VideoFrame]:
    """Push each clip's output frames (source frames repeated or skipped as its map says;
    a source that ends early repeats its last frame), yielding what the graph puts out."""
    tb = 1 / g.rate
    for k, clip in enumerate(clips):
        src, wanted = g.sources[k], clip.sources
        j, n, last = 0, len(wanted), None
        for index, frame in opened.frames(k):
            last = frame
            while j < n and wanted[j] <= index:
                frame.pts, frame.time_base = j, tb
                src.push(frame)
                yield from _drain(g.sink)
                j += 1
            if j >= n:
                break
        while last is not None and j < n:
            last.pts, last.time_base = j, tb
            src.push(last)
            yield from _drain(g.sink)
            j += 1
        src.push(None)
        yield from _drain(g.sink)


def compose(
    clips: Sequence[ClipFrames],
    out: Path,
    size: tuple[int, int],
    fps: float,
    vc: VideoConfig,
    *,
    audio: AudioTrack | None = None,
) -> CodecReport:
    """Join ``clips`` into ``out`` (``size`` frames at ``fps``, H.264 as configured) with
    ``audio`` as its audio track; which codecs ran."""
    report = CodecReport()
    opened = _Clips(clips, vc, report)
    sink: Sink | None = None
    try:
        rate = frame_rate(fps)
        g = _build(clips, [f for _, f in opened.heads], rate, vc.encoding.pixel_format)
        sink = Sink(out, *size, fps, encoding=vc.encoding, report=report, gpu=opened.gpu)
        if audio is not None:
            sink.encode_audio(audio)
        for frame in run_ahead(_produce(clips, opened, g)):
            sink.write(frame)
        sink.close()
    except BaseException:
        if sink is not None:
            sink.abort()
        raise
    finally:
        opened.close()
    return report
