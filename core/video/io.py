"""The shared reader/writer layer: probe with PyAV, RGB frames for analyses from the faster
decoder for the read (PyAV threaded or decord), writing with PyAV.

Frames are RGB ``uint8`` arrays of shape ``(height, width, 3)``; audio is float32
planar, shape ``(channels, samples)``. Reads go in bounded chunks (``read_chunk_frames``).
Operations that write video go through :mod:`core.video.pipeline` instead (YUV, libavfilter).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import decord
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter

from core.video.config import Encoding, Limits, get_video_config
from core.video.errors import InvalidInputError
from core.video.safety import check_input_file

decord.bridge.set_bridge("native")

# Codec and filter threads of the current operation (None: the config), set by the runner.
codec_threads: ContextVar[int | None] = ContextVar("codec_threads", default=None)
# Whether the current operation runs on a GPU it holds (NVDEC/NVENC are tried), set by the runner.
use_gpu: ContextVar[bool] = ContextVar("use_gpu", default=False)

# FFmpeg demuxers that turn arbitrary text into "video" (ANSI art); never a real input.
_NOT_VIDEO_FORMATS = frozenset({"tty"})


@dataclass(frozen=True)
class VideoInfo:
    """What an operation needs to know about its input."""

    path: str
    width: int
    height: int
    fps: float
    frame_count: int
    duration_s: float
    has_audio: bool
    audio_rate: int | None = None
    audio_channels: int | None = None
    video_codec: str = ""

    @property
    def aspect(self) -> float:
        return self.width / self.height


@dataclass
class AudioTrack:
    """Decoded audio: ``samples`` float32, shape ``(channels, n)``, at ``rate`` Hz."""

    samples: np.ndarray
    rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        return self.samples.shape[1] / self.rate

    def slice_s(self, start_s: float, end_s: float) -> AudioTrack:
        a, b = int(round(start_s * self.rate)), int(round(end_s * self.rate))
        return AudioTrack(self.samples[:, max(a, 0) : max(b, 0)].copy(), self.rate)


def even(n: float) -> int:
    """Nearest even integer ≥ 2 (yuv420p needs even sides)."""
    return max(2, int(round(n / 2.0)) * 2)


def probe(path: str | Path, limits: Limits | None = None) -> VideoInfo:
    """Validate and describe a video file, or raise :class:`InvalidInputError`."""
    limits = limits or get_video_config().limits
    path = Path(path)
    check_input_file(path, limits)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video or container.format.name in _NOT_VIDEO_FORMATS:
                raise InvalidInputError(
                    f"not a readable video file: no video stream in {path.name}"
                )
            vs = container.streams.video[0]
            vs.codec_context.thread_count = 1  # one frame: no decoder thread pool to start
            first = next(container.decode(vs), None)
            if first is None:
                raise InvalidInputError(f"no decodable video frame in {path.name}")
            audio = container.streams.audio[0] if container.streams.audio else None
            codec = vs.codec_context.name
            audio_rate = audio.codec_context.sample_rate if audio else None
            audio_channels = audio.codec_context.channels if audio else None
            width, height = first.width, first.height
            rate = vs.average_rate or vs.guessed_rate or vs.base_rate
            fps = float(rate) if rate else 0.0
            frame_count = int(vs.frames) or _count_packets(container, vs)
    except InvalidInputError:
        raise
    except (av.FFmpegError, StopIteration, ValueError, OSError, ZeroDivisionError) as exc:
        raise InvalidInputError(f"not a readable video file: {path.name} ({exc})") from exc
    if frame_count <= 0 or fps <= 0:
        raise InvalidInputError(f"video has no frames: {path.name}")
    duration = frame_count / fps
    if duration > limits.max_duration_s:
        raise InvalidInputError(
            f"video is {duration:.1f} s long, over the limit of {limits.max_duration_s:.0f} s"
        )
    if width > limits.max_width or height > limits.max_height:
        raise InvalidInputError(
            f"video is {width}x{height}, over the limit of {limits.max_width}x{limits.max_height}"
        )
    return VideoInfo(
        path=str(path),
        width=int(width),
        height=int(height),
        fps=fps,
        frame_count=frame_count,
        duration_s=duration,
        has_audio=audio is not None,
        audio_rate=audio_rate,
        audio_channels=audio_channels,
        video_codec=codec,
    )


def _count_packets(container: av.container.InputContainer, stream: av.video.VideoStream) -> int:
    """Frames of a stream whose header does not say (Matroska): its packets, undecoded."""
    container.seek(0)
    return sum(1 for p in container.demux(stream) if p.size > 0)


def _decode_threads() -> int:
    threads = codec_threads.get()
    return get_video_config().encoding.decode_threads if threads is None else threads


def choose_backend(width: int, height: int, *, downscaled: bool) -> str:
    """The faster reader for a read (``configs/video.yaml`` ``decoding``; figures in
    docs/video.md): PyAV threaded with one cached scaler, except decord (chunked get_batch) for
    downscaled reads of small sources."""
    d = get_video_config().decoding
    if d.backend != "auto":
        return d.backend
    return "decord" if downscaled and width * height <= d.decord_max_pixels else "pyav"


class _PyAVFrames:
    """Sequential PyAV decoding (frame threads) converted by one reused swscale context."""

    def __init__(
        self, path: str, width: int, height: int, container: av.container.InputContainer
    ) -> None:
        self.path, self.width, self.height = path, width, height
        self._reformatter = VideoReformatter()
        self._open(container)

    def _open(self, container: av.container.InputContainer | None = None) -> None:
        self._container = container or av.open(self.path)
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = _decode_threads()
        self._frames = self._container.decode(stream)
        self.position = 0  # index of the next decoded frame

    def rgb(self, frame: av.VideoFrame) -> np.ndarray:
        out = self._reformatter.reformat(
            frame,
            width=self.width or None,
            height=self.height or None,
            format="rgb24",
            # downscaling: bicubic, decord's scaler (statistics do not move with the backend)
            interpolation=Interpolation.BICUBIC if self.width else None,
        )
        # a view on the converted frame's buffer (copied once, into the caller's array)
        plane = out.planes[0]
        rows = np.frombuffer(plane, np.uint8).reshape(out.height, plane.line_size)
        return rows[:, : out.width * 3].reshape(out.height, out.width, 3)

    def read(self, wanted: Sequence[int]) -> Iterator[np.ndarray]:
        """RGB frames at ascending ``wanted`` indices (rewinds when asked to go back)."""
        if wanted and wanted[0] < self.position:
            self._container.close()
            self._open()
        want = iter(wanted)
        target = next(want, None)
        while target is not None:
            frame = next(self._frames, None)
            if frame is None:
                raise IndexError(f"frame {target} is past the end of {Path(self.path).name}")
            index, self.position = self.position, self.position + 1
            if index == target:
                arr = self.rgb(frame)
                while target == index:
                    yield arr
                    target = next(want, None)

    def close(self) -> None:
        self._container.close()


class FrameReader:
    """RGB frames in bounded chunks, optionally downscaled at decode, from the faster
    backend for the read (:func:`choose_backend`)."""

    def __init__(
        self,
        path: str | Path,
        *,
        width: int = -1,
        height: int = -1,
        chunk: int | None = None,
        backend: str | None = None,
    ) -> None:
        self.path = str(path)
        self.chunk = chunk or get_video_config().limits.read_chunk_frames
        container = av.open(self.path)  # one open: metadata, then (PyAV) the frames
        vs = container.streams.video[0]
        src_w, src_h = vs.width, vs.height
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate
        self.fps = float(rate) if rate else 0.0
        counted = not vs.frames
        self.frame_count = int(vs.frames) or _count_packets(container, vs)
        downscaled = width > 0 and height > 0 and (width, height) != (src_w, src_h)
        self.backend = backend or choose_backend(src_w, src_h, downscaled=downscaled)
        self._av: _PyAVFrames | None = None
        if self.backend == "decord":
            container.close()
            self._vr = decord.VideoReader(
                self.path, ctx=decord.cpu(0), width=width, height=height,
                num_threads=_decode_threads(),
            )  # fmt: skip
            self.frame_count = len(self._vr)
        else:
            if counted:  # the packet count read the file: start again
                container.seek(0)
            w, h = (width, height) if downscaled else (0, 0)
            self._av = _PyAVFrames(self.path, w, h, container)

    def get(self, indices: Sequence[int], out: np.ndarray | None = None) -> np.ndarray:
        """Frames at ``indices``, shape ``(len(indices), h, w, 3)`` (into ``out`` if it fits)."""
        idx = list(indices)
        if self._av is None:
            return self._vr.get_batch(idx).asnumpy()
        order = sorted(range(len(idx)), key=idx.__getitem__)
        for k, f in zip(order, self._av.read([idx[k] for k in order]), strict=True):
            if out is None or out.shape != (len(idx), *f.shape):
                out = np.empty((len(idx), *f.shape), np.uint8)
            out[k] = f
        return out if out is not None else np.empty((0, 0, 0, 3), np.uint8)

    def chunks(
        self, indices: Iterable[int] | None = None
    ) -> Iterator[tuple[list[int], np.ndarray]]:
        """``(indices, frames)`` pairs of at most ``chunk`` frames, in order.

        Two arrays take turns: the one before last is filled again when nothing outside refers
        to it any more (a fresh 16-frame HD array costs page faults on every frame)."""
        idx = list(range(self.frame_count)) if indices is None else list(indices)
        bufs: list[np.ndarray | None] = [None, None]
        for n, i in enumerate(range(0, len(idx), self.chunk)):
            part = idx[i : i + self.chunk]
            old = bufs[n % 2]
            bufs[n % 2] = None  # only ``old`` may hold it now
            free = old is not None and sys.getrefcount(old) <= 2  # ``old`` and the argument
            bufs[n % 2] = self.get(part, old if free else None)
            del old
            yield part, bufs[n % 2]  # type: ignore[misc]

    def frames(self, indices: Iterable[int] | None = None) -> Iterator[np.ndarray]:
        """One frame at a time (read in chunks underneath)."""
        for _, batch in self.chunks(indices):
            yield from batch


def sample_indices(frame_count: int, fps: float, every_s: float) -> list[int]:
    """Frame indices spaced ``every_s`` seconds apart (at least one)."""
    step = max(1, int(round(every_s * fps)))
    return list(range(0, frame_count, step)) or [0]


def read_audio(path: str | Path) -> AudioTrack | None:
    """The first audio stream decoded to float32 planar, or ``None`` when there is none."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        layout = "mono" if stream.codec_context.channels == 1 else "stereo"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        parts: list[np.ndarray] = []
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                parts.append(out.to_ndarray())
        for out in resampler.resample(None):
            parts.append(out.to_ndarray())
    if not parts:
        return None
    return AudioTrack(np.concatenate(parts, axis=1).astype(np.float32), rate)


def available_codec(name: str, fallback: str) -> str:
    """``name`` when this PyAV build can encode it, else ``fallback``."""
    try:
        av.codec.Codec(name, "w")
        return name
    except (av.FFmpegError, ValueError):
        return fallback


class VideoWriter:
    """PyAV writer: RGB frames in, H.264 (or MPEG-4) plus AAC audio out."""

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        fps: float,
        *,
        audio: AudioTrack | None = None,
        encoding: Encoding | None = None,
        codec: str | None = None,
        crf: int | None = None,
        preset: str | None = None,
        audio_bitrate: int | None = None,
    ) -> None:
        enc = encoding or get_video_config().encoding
        if width % 2 or height % 2:
            raise ValueError(f"frame size must be even, got {width}x{height}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.width, self.height = width, height
        self.rate = Fraction(fps).limit_denominator(1001)
        self._container = av.open(str(self.path), mode="w")
        codec_name = available_codec(codec or enc.video_codec, enc.fallback_codec)
        self._vs = self._container.add_stream(codec_name, rate=self.rate)
        self._vs.width, self._vs.height = width, height
        self._vs.pix_fmt = enc.pixel_format
        if enc.threads:
            self._vs.codec_context.thread_count = enc.threads
        self._vs.time_base = 1 / self.rate
        if codec_name in ("libx264", "h264"):
            self._vs.options = {
                "crf": str(crf if crf is not None else enc.crf),
                "preset": preset or enc.preset,
            }
        else:
            self._vs.bit_rate = max(400_000, width * height * 4)
        self.codec = codec_name
        self._audio = audio if audio is not None and audio.samples.shape[1] > 0 else None
        self._as = None
        if self._audio is not None:
            self._as = self._container.add_stream(enc.audio_codec, rate=self._audio.rate)
            self._as.layout = "mono" if self._audio.channels == 1 else "stereo"
            self._as.bit_rate = audio_bitrate or enc.audio_bitrate
            self._as.time_base = Fraction(1, self._audio.rate)
        self._count = 0

    def write(self, frame: np.ndarray) -> None:
        """Append one RGB frame of the writer's size."""
        if frame.shape[:2] != (self.height, self.width):
            raise ValueError(
                f"frame is {frame.shape[1]}x{frame.shape[0]}, writer is {self.width}x{self.height}"
            )
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame, dtype=np.uint8), format="rgb24")
        vf.pts = self._count
        self._count += 1
        self._container.mux(self._vs.encode(vf))

    def write_many(self, frames: Iterable[np.ndarray]) -> None:
        for f in frames:
            self.write(f)

    @property
    def frames_written(self) -> int:
        return self._count

    def close(self) -> None:
        """Flush encoders and finish the file."""
        self._container.mux(self._vs.encode(None))
        if self._audio is not None:
            encode_audio(self._container, self._as, self._audio)
        self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        if exc_type is None:
            self.close()
        else:
            self._container.close()
            self.path.unlink(missing_ok=True)


def encode_audio(container: av.container.OutputContainer, stream, track: AudioTrack) -> None:
    """Encode ``track`` into ``stream`` of ``container`` (1024-sample frames) and flush."""
    layout = "mono" if track.channels == 1 else "stereo"
    data = np.ascontiguousarray(np.clip(track.samples[:2], -1.0, 1.0), dtype=np.float32)
    step = 1024
    for i in range(0, data.shape[1], step):
        af = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(data[:, i : i + step]), format="fltp", layout=layout
        )
        af.sample_rate = track.rate
        af.pts = i
        af.time_base = Fraction(1, track.rate)
        container.mux(stream.encode(af))
    container.mux(stream.encode(None))


def remux_with_audio(
    src: str | Path, dst: str | Path, track: AudioTrack, encoding: Encoding | None = None
) -> Path:
    """Copy the video stream of ``src`` untouched and encode ``track`` as its audio."""
    enc = encoding or get_video_config().encoding
    dst = Path(dst)
    with av.open(str(src)) as inp, av.open(str(dst), mode="w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream_from_template(vin)
        aout = out.add_stream(enc.audio_codec, rate=track.rate)
        aout.layout = "mono" if track.channels == 1 else "stereo"
        aout.bit_rate = enc.audio_bitrate
        aout.time_base = Fraction(1, track.rate)
        for packet in inp.demux(vin):
            if packet.dts is None:
                continue
            packet.stream = vout
            out.mux(packet)
        encode_audio(out, aout, track)
    return dst


def require_info(path: str | Path) -> VideoInfo:
    """:func:`probe` with the configured limits (raises :class:`InvalidInputError`)."""
    return probe(path, get_video_config().limits)


__all__ = [
    "AudioTrack",
    "FrameReader",
    "InvalidInputError",
    "VideoInfo",
    "VideoWriter",
    "available_codec",
    "choose_backend",
    "encode_audio",
    "even",
    "probe",
    "read_audio",
    "remux_with_audio",
    "require_info",
    "sample_indices",
]
