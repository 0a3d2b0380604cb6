"""Decode → libavfilter graph → encode with PyAV, frames staying in YUV end to end.

Video operations describe their work as a list of filters (``scale``, ``pad``, ``lutrgb``,
``overlay``…) plus, where needed, which source frames to keep or repeat; :func:`transform`
runs it. Decoder, filter and encoder threads follow ``codec_threads`` (the task's CPUs).
Audio is copied packet for packet when it is unchanged and the container takes its codec,
else encoded from a given track. On a task that holds a GPU (``use_gpu``), H.264 is decoded
with ``h264_cuvid`` and encoded with ``h264_nvenc``; either falls back to the CPU codec when
it cannot open.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import av
import numpy as np

from core.video.config import Encoding, GpuCodecs, VideoConfig
from core.video.io import AudioTrack, available_codec, codec_threads, encode_audio, use_gpu

_AV_ERRORS = (av.FFmpegError, OSError, ValueError, RuntimeError)

Filter = tuple[str, dict[str, Any]]


def threads() -> int:
    """Codec and filter threads of the current operation (0: FFmpeg's choice)."""
    return codec_threads.get() or 0


def frame_rate(fps: float) -> Fraction:
    """The output frame rate as a fraction (29.97 → 30000/1001)."""
    return Fraction(fps).limit_denominator(1001)


def first_frame_at(seconds: float, fps: float) -> int:
    """The first frame index ``i`` with ``i / fps >= seconds`` (the old float comparison)."""
    i = max(0, math.ceil(seconds * fps))
    while i > 0 and (i - 1) / fps >= seconds:
        i -= 1
    while i / fps < seconds:
        i += 1
    return i


@lru_cache(maxsize=8)
def _gpu_codec_error(name: str, mode: str, width: int, height: int) -> str | None:
    """Why ``name`` cannot open here (``None``: it can). Cached: a node's answer does not change."""
    try:
        ctx = av.codec.CodecContext.create(name, mode)
        ctx.width, ctx.height = width, height
        if mode == "w":
            ctx.pix_fmt, ctx.time_base = "yuv420p", Fraction(1, 30)
        ctx.open()  # released with the object
    except _AV_ERRORS as exc:
        return f"{name} unavailable ({type(exc).__name__}: {exc})"
    return None


@dataclass
class CodecReport:
    """Which codecs ran, and why a GPU codec was not used when one was asked for."""

    decoder: str = ""
    encoder: str = ""
    fallbacks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"decoder": self.decoder, "encoder": self.encoder, "gpu_fallbacks": self.fallbacks}


class Source:
    """One input file: the video stream's frames in order (index, frame), and its audio stream."""

    def __init__(self, path: str | Path, *, gpu: GpuCodecs | None, report: CodecReport) -> None:
        self.container = av.open(str(path))
        self.stream = self.container.streams.video[0]
        self.audio = self.container.streams.audio[0] if self.container.streams.audio else None
        self._gpu_ctx: av.codec.CodecContext | None = None
        name = self.stream.codec_context.name
        if gpu is not None and name == "h264":
            err = _gpu_codec_error(gpu.decoder, "r", self.stream.width, self.stream.height)
            if err is None:
                try:
                    self._gpu_ctx = self._open_gpu(gpu.decoder)
                    name = gpu.decoder
                except _AV_ERRORS as exc:
                    report.fallbacks.append(f"{gpu.decoder}: {exc}")
            else:
                report.fallbacks.append(err)
        if self._gpu_ctx is None:
            self.stream.thread_type = "AUTO"
            self.stream.codec_context.thread_count = threads()
        report.decoder = name

    def _open_gpu(self, name: str) -> av.codec.CodecContext:
        ctx = av.codec.CodecContext.create(name, "r")
        ctx.extradata = self.stream.codec_context.extradata
        ctx.width, ctx.height = self.stream.width, self.stream.height
        ctx.open()
        return ctx

    def _decode(self, packet: av.Packet) -> list[av.VideoFrame]:
        if self._gpu_ctx is not None:
            return self._gpu_ctx.decode(packet)  # type: ignore[return-value]
        return packet.decode()  # type: ignore[return-value]

    def seek_frame(self, index: int, fps: float) -> int:
        """Seek to the key frame at or before ``index``; the index decoding resumes at."""
        if index <= 0 or self.stream.time_base is None:
            return 0
        tb = self.stream.time_base
        start = self.stream.start_time or 0
        try:
            self.container.seek(start + int(index / fps / tb), stream=self.stream, backward=True)
        except _AV_ERRORS:
            return 0
        return -1  # indices come from timestamps from here on

    def packets(
        self, start_index: int = 0, fps: float = 0.0, *, with_audio: bool = False
    ) -> Iterator[tuple[int, av.VideoFrame] | av.Packet]:
        """Decoded video frames as ``(index, frame)`` and, interleaved, raw audio packets."""
        audio = [self.audio] if with_audio and self.audio is not None else []
        streams = [self.stream, *audio]
        tb, t0 = self.stream.time_base, self.stream.start_time or 0
        count = start_index
        for packet in self.container.demux(*streams):
            if packet.stream is not self.stream:
                yield packet
                continue
            for frame in self._decode(packet):
                if count < 0:  # after a seek: index from the timestamp
                    count = int(round(float((frame.pts - t0) * tb) * fps))
                yield count, frame
                count += 1

    def close(self) -> None:
        self.container.close()


class Sink:
    """The output file: H.264 (or the given codec) in YUV 4:2:0, plus copied or encoded audio."""

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        fps: float,
        *,
        encoding: Encoding,
        report: CodecReport,
        gpu: GpuCodecs | None = None,
        codec: str | None = None,
        crf: int | None = None,
        preset: str | None = None,
    ) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"frame size must be even, got {width}x{height}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.rate = frame_rate(fps)
        self.size = (width, height)
        self._tb = 1 / self.rate  # the stream's own time base changes when the header is written
        cpu = available_codec(codec or encoding.video_codec, encoding.fallback_codec)
        cpu_options = (
            {
                "crf": str(crf if crf is not None else encoding.crf),
                "preset": preset or encoding.preset,
            }
            if cpu in ("libx264", "h264")
            else {}
        )
        name = cpu
        if gpu is not None and cpu in ("libx264", "h264"):
            err = _gpu_codec_error(gpu.encoder, "w", width, height)
            if err is None:
                try:
                    self._open(gpu.encoder, dict(gpu.encoder_options), encoding, check=True)
                    name = gpu.encoder
                except _AV_ERRORS as exc:
                    report.fallbacks.append(f"{gpu.encoder}: {exc}")
            else:
                report.fallbacks.append(err)
        if name == cpu:
            self._open(cpu, cpu_options, encoding)
        report.encoder = name
        self.codec = name
        self.encoding = encoding
        self.audio: av.stream.Stream | None = None
        self._track: AudioTrack | None = None
        self.count = 0

    def _open(
        self, name: str, options: dict[str, str], encoding: Encoding, *, check: bool = False
    ) -> None:
        """Create the container and its video stream; ``check`` opens the encoder now (and
        removes the file again if it cannot open)."""
        self.container = av.open(str(self.path), mode="w")
        self.video = self.container.add_stream(name, rate=self.rate)
        self.video.width, self.video.height = self.size
        self.video.pix_fmt = encoding.pixel_format
        self.video.time_base = self._tb
        self.video.codec_context.thread_count = encoding.threads or threads()
        if options:
            self.video.options = options
        else:
            self.video.bit_rate = max(400_000, self.size[0] * self.size[1] * 4)
        if check:
            try:
                self.video.codec_context.open()
            except _AV_ERRORS:
                self.container.close()
                self.path.unlink(missing_ok=True)
                raise

    def copy_audio_from(self, stream: av.audio.AudioStream) -> bool:
        """Add an audio stream that takes ``stream``'s packets as they are (if the container
        accepts the codec)."""
        if stream.codec_context.name not in self.container.supported_codecs:
            return False
        self.audio = self.container.add_stream_from_template(stream)
        return True

    def encode_audio(self, track: AudioTrack, bitrate: int | None = None) -> None:
        """Add an audio stream encoded from ``track`` when the sink closes."""
        if track.samples.shape[1] == 0:
            return
        self.audio = self.container.add_stream(self.encoding.audio_codec, rate=track.rate)
        self.audio.layout = "mono" if track.channels == 1 else "stereo"
        self.audio.bit_rate = bitrate or self.encoding.audio_bitrate
        self.audio.time_base = Fraction(1, track.rate)
        self._track = track

    def mux_audio(self, packet: av.Packet) -> None:
        if packet.dts is None or self.audio is None or self._track is not None:
            return
        packet.stream = self.audio
        self.container.mux(packet)

    def write(self, frame: av.VideoFrame) -> None:
        frame.pts, frame.time_base = self.count, self._tb
        self.count += 1
        self.container.mux(self.video.encode(frame))

    def close(self) -> None:
        self.container.mux(self.video.encode(None))
        if self._track is not None and self.audio is not None:
            encode_audio(self.container, self.audio, self._track)
        self.container.close()

    def abort(self) -> None:
        self.container.close()
        self.path.unlink(missing_ok=True)


def align_even(rgba: np.ndarray, x: int, y: int) -> tuple[np.ndarray, int, int]:
    """``overlay`` on 4:2:0 frames rounds positions down to even: pad the image with a
    transparent column/row instead, so that it lands where asked."""
    dx, dy = x % 2, y % 2
    if dx or dy:
        rgba = np.pad(rgba, ((dy, 0), (dx, 0), (0, 0)))
    return rgba, x - dx, y - dy


@dataclass
class Overlay:
    """A second input of the graph: RGBA images shown by an ``overlay`` filter.

    ``schedule`` holds ``(first_frame, rgba)`` changes in frame order (``None``: transparent);
    every image has the same size. The filter at ``filters[index]`` takes this as input 1.
    """

    index: int
    schedule: list[tuple[int, np.ndarray | None]]


class Graph:
    """A chain of filters over YUV frames with overlay inputs fed in step with the video."""

    def __init__(
        self,
        width: int,
        height: int,
        pix_fmt: str,
        rate: Fraction,
        filters: Sequence[Filter],
        *,
        out_format: str,
        overlays: Sequence[Overlay] = (),
    ) -> None:
        self.graph = av.filter.Graph()
        self.graph.threads = threads()
        src = self.graph.add_buffer(
            width=width, height=height, format=pix_fmt, time_base=1 / rate, name="in"
        )
        nodes = [src] + [self.graph.add(name, **args) for name, args in filters]
        nodes += [self.graph.add("format", pix_fmts=out_format), self.graph.add("buffersink")]
        self.graph.link_nodes(*nodes)
        self.rate = rate
        self._feeds: list[tuple[Any, list[tuple[int, np.ndarray | None]], tuple[int, int]]] = []
        for k, ov in enumerate(overlays):
            h, w = next(img.shape[:2] for _, img in ov.schedule if img is not None)
            buf = self.graph.add_buffer(
                width=w, height=h, format="rgba", time_base=1 / rate, name=f"ov{k}"
            )
            buf.link_to(nodes[1 + ov.index], 0, 1)
            self._feeds.append((buf, list(ov.schedule), (h, w)))
        self.graph.configure()

    def _feed(self, upto: int) -> None:
        """Push overlay images up to and including the first change after frame ``upto``."""
        for buf, sched, (h, w) in self._feeds:
            while sched:
                start, img = sched[0]
                rgba = img if img is not None else np.zeros((h, w, 4), np.uint8)
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba")
                frame.pts, frame.time_base = start, 1 / self.rate
                buf.push(frame)
                sched.pop(0)
                if start > upto:
                    break
            if not sched and buf is not None:
                buf.push(None)
                self._feeds = [f for f in self._feeds if f[0] is not buf]

    def push(self, index: int, frame: av.VideoFrame | None) -> list[av.VideoFrame]:
        """Filter one frame (stamped with its source index); ``None`` flushes."""
        if frame is not None:
            self._feed(index)
            frame.pts, frame.time_base = index, 1 / self.rate
        else:
            self._feed(1 << 62)
        self.graph.vpush(frame, at=0)
        out = []
        while True:
            try:
                out.append(self.graph.vpull())
            except (av.error.BlockingIOError, av.error.EOFError):
                return out


def filter_image(
    rgb: np.ndarray, filters: Sequence[Filter], pix_fmt: str = "yuv420p"
) -> np.ndarray:
    """Run one RGB image through ``filters`` (as ``pix_fmt`` frames); the RGB result."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    frame = frame.reformat(format=pix_fmt)
    h, w = rgb.shape[:2]
    graph = Graph(w, h, pix_fmt, Fraction(1), filters, out_format="rgb24")
    out = graph.push(0, frame) + graph.push(0, None)
    return out[0].to_ndarray()


def frames_from(
    src: Source, path: str | Path, first: int, fps: float, *, gpu: GpuCodecs | None
) -> tuple[Source, Iterator[Any]]:
    """Decoded ``(index, frame)`` items of ``src`` from the key frame at or before ``first``
    (from the start when the seek fails or overshoots); the source to close afterwards."""
    if src.seek_frame(first, fps) >= 0:
        return src, src.packets(0, fps)
    items = src.packets(-1, fps)
    head = next(items, None)
    if head is None or (isinstance(head, tuple) and head[0] > first):  # overshot: rewind
        src.close()
        src = Source(path, gpu=gpu, report=CodecReport())
        return src, src.packets(0, fps)
    return src, _chain(head, items)


def transform(
    path: str | Path,
    out: Path,
    size: tuple[int, int],
    fps: float,
    vc: VideoConfig,
    *,
    filters: Sequence[Filter] = (),
    overlays: Sequence[Overlay] = (),
    frames: tuple[int, int] | None = None,
    repeats: np.ndarray | None = None,
    audio: AudioTrack | bool | None = True,
    audio_bitrate: int | None = None,
    codec: str | None = None,
    crf: int | None = None,
    preset: str | None = None,
) -> CodecReport:
    """Decode ``path``, run ``filters``, encode ``size`` frames at ``fps`` into ``out``.

    ``frames``: keep source frames ``[a, b)``; ``repeats[i]``: how many times source frame
    ``i`` appears in the output (0 drops it). ``audio=True`` copies the input's audio (encoded
    again only if the container cannot take its codec), a track replaces it, ``False``/``None``
    drops it.
    """
    gpu = vc.gpu_codecs if vc.gpu_codecs.enabled and use_gpu.get() else None
    report = CodecReport()
    src = Source(path, gpu=gpu, report=report)
    sink: Sink | None = None
    try:
        sink = Sink(
            out, *size, fps, encoding=vc.encoding, report=report, gpu=gpu,
            codec=codec, crf=crf, preset=preset,
        )  # fmt: skip
        copy_audio = audio is True and src.audio is not None
        if copy_audio and not sink.copy_audio_from(src.audio):  # type: ignore[arg-type]
            from core.video.io import read_audio

            copy_audio, audio = False, read_audio(path)
        if isinstance(audio, AudioTrack):
            sink.encode_audio(audio, audio_bitrate)
        first, last = frames or (0, 1 << 62)
        if first > 0 and not copy_audio:
            src, items = frames_from(src, path, first, fps, gpu=gpu)
        else:
            items = src.packets(0, fps, with_audio=copy_audio)
        layout = _Layout(first, last, copy_audio, sink.rate, filters, overlays, repeats)
        # decoding and filtering run on a second thread, encoding and muxing on this one:
        # PyAV releases the GIL inside FFmpeg, so the two overlap (with one thread, about 1.5
        # of 2 cores were busy)
        for kind, obj, count in run_ahead(_produce(items, layout, vc.encoding.pixel_format)):
            if kind == "a":
                sink.mux_audio(obj)
            else:
                for _ in range(count):
                    sink.write(obj)
        sink.close()
    except BaseException:
        if sink is not None:
            sink.abort()
        raise
    finally:
        src.close()
    return report


@dataclass(frozen=True)
class _Layout:
    """What the decoding side needs to know about the output."""

    first: int
    last: int
    copy_audio: bool
    rate: Fraction
    filters: Sequence[Filter]
    overlays: Sequence[Overlay]
    repeats: np.ndarray | None


def _produce(items: Iterator[Any], lay: _Layout, pix_fmt: str) -> Iterator[tuple[str, Any, int]]:
    """``("a", packet, 0)`` for audio to copy, ``("v", frame, times)`` for filtered frames."""
    graph: Graph | None = None
    top = -1  # the last source index pushed (an overlay may run past the video's end)
    for item in items:
        if not isinstance(item, tuple):
            if lay.copy_audio:
                yield "a", item, 0
            continue
        index, frame = item
        if index < lay.first or index >= lay.last:
            if index >= lay.last and not lay.copy_audio:
                break
            continue
        if not lay.filters and frame.format.name == pix_fmt:  # nothing to filter
            frame.pts = index
            yield "v", frame, _times(frame, lay.repeats, index)
            continue
        if graph is None:
            graph = Graph(
                frame.width, frame.height, frame.format.name, lay.rate, lay.filters,
                out_format=pix_fmt, overlays=lay.overlays,
            )  # fmt: skip
        top = index
        for f in graph.push(index, frame):
            yield "v", f, _times(f, lay.repeats, top)
    if graph is not None:
        for f in graph.push(0, None):
            yield "v", f, _times(f, lay.repeats, top)


def _times(frame: av.VideoFrame, repeats: np.ndarray | None, top: int) -> int:
    """How many times a filtered frame (stamped with its source index) is written."""
    if frame.pts > top:
        return 0
    if repeats is None:
        return 1
    return int(repeats[frame.pts]) if frame.pts < len(repeats) else 0


_DONE = object()


def run_ahead(gen: Iterator[Any], depth: int = 8) -> Iterator[Any]:
    """Run ``gen`` on a worker thread, ``depth`` items ahead; its errors re-raise here."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in gen:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:  # handed to the consuming thread
            q.put(exc)

    worker = threading.Thread(target=work, name="video-decode", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                q.get(timeout=0.1)
            except queue.Empty:
                continue
        worker.join()


def _chain(head: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield head
    yield from rest
