"""Audio through libavfilter graphs with several inputs (``acrossfade``, ``concat``,
``sidechaincompress``, ``amix``…), and conforming tracks to one rate, layout and length.

Tracks are :class:`~core.video.io.AudioTrack` (float32, shape ``(channels, n)``); graphs run
on stereo ``fltp`` at one sample rate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction

import av
import numpy as np

from core.video.io import AudioTrack

Node = av.filter.context.FilterContext
_CHUNK = 4096  # samples a pushed frame


def silence(n: int, rate: int) -> AudioTrack:
    """``n`` samples of stereo silence."""
    return AudioTrack(np.zeros((2, n), np.float32), rate)


def conform(track: AudioTrack | None, rate: int, n: int) -> AudioTrack:
    """``track`` as stereo at ``rate``, padded with silence or cut to ``n`` samples
    (``None``: silence)."""
    if track is None or track.samples.shape[1] == 0:
        return silence(n, rate)
    data = track.samples[:2]
    if data.shape[0] == 1:
        data = np.repeat(data, 2, axis=0)
    if track.rate != rate:
        data = _resample(AudioTrack(np.ascontiguousarray(data), track.rate), rate)
    short = max(0, n - data.shape[1])
    data = np.pad(data, ((0, 0), (0, short))) if short else data[:, :n]
    return AudioTrack(np.ascontiguousarray(data, dtype=np.float32), rate)


def _resample(track: AudioTrack, rate: int) -> np.ndarray:
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
    parts = []
    for frame in _frames(track):
        parts += [f.to_ndarray() for f in resampler.resample(frame)]
    parts += [f.to_ndarray() for f in resampler.resample(None)]
    return np.concatenate(parts, axis=1) if parts else np.zeros((2, 0), np.float32)


def _frames(track: AudioTrack) -> list[av.AudioFrame]:
    layout = "mono" if track.channels == 1 else "stereo"
    out = []
    for i in range(0, track.samples.shape[1], _CHUNK):
        fr = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(track.samples[:, i : i + _CHUNK], dtype=np.float32),
            format="fltp",
            layout=layout,
        )
        fr.sample_rate, fr.pts, fr.time_base = track.rate, i, Fraction(1, track.rate)
        out.append(fr)
    return out


def filter_audio(
    inputs: Sequence[AudioTrack], build: Callable[[av.filter.Graph, list[Node]], Node]
) -> AudioTrack:
    """Run stereo tracks of one rate through a graph: ``build(graph, sources)`` links the
    ``abuffer`` sources (in ``inputs`` order) and returns the node to read from. Inputs are
    pushed side by side, a chunk of each in turn, and all ended together at the end: filters
    that read inputs in step (``sidechaincompress``, ``amix``) see no early end, and those
    that read one input to its end first (``acrossfade``, ``concat``) queue the others."""
    rate = inputs[0].rate
    graph = av.filter.Graph()
    sources = [
        graph.add_abuffer(
            format="fltp", sample_rate=rate, layout="stereo", time_base=Fraction(1, rate)
        )
        for _ in inputs
    ]
    fmt = graph.add("aformat", sample_fmts="fltp", channel_layouts="stereo")  # planar out
    build(graph, sources).link_to(fmt)
    sink = graph.add("abuffersink")
    fmt.link_to(sink)
    graph.configure()
    out: list[np.ndarray] = []
    frames = [_frames(track) for track in inputs]
    for step in range(max(len(f) for f in frames)):
        for src, fs in zip(sources, frames, strict=True):
            if step < len(fs):
                src.push(fs[step])
                out += _drain(sink)
    for src in sources:
        src.push(None)
        out += _drain(sink)
    data = np.concatenate(out, axis=1) if out else np.zeros((2, 0), np.float32)
    return AudioTrack(data, rate)


def _drain(sink: Node) -> list[np.ndarray]:
    out = []
    while True:
        try:
            out.append(sink.pull().to_ndarray())
        except (av.error.BlockingIOError, av.error.EOFError):
            return out


def chain(graph: av.filter.Graph, node: Node, *filters: tuple[str, dict[str, str]]) -> Node:
    """``node`` followed by ``filters`` (name, options); the last one."""
    for name, args in filters:
        nxt = graph.add(name, **args)
        node.link_to(nxt)
        node = nxt
    return node


def join(graph: av.filter.Graph, name: str, *inputs: Node, **args: str) -> Node:
    """A filter ``name`` with ``inputs`` linked to its inputs 0, 1…"""
    node = graph.add(name, **args)
    for k, src in enumerate(inputs):
        src.link_to(node, 0, k)
    return node
