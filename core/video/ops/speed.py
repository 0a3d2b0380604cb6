"""Speed change: frames resampled at the same frame rate; audio tempo-changed (atempo)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
from pydantic import Field

from core.video.io import AudioTrack, read_audio
from core.video.ops.base import OpConfig, OpContext, OpOutput, write_video


class SpeedConfig(OpConfig):
    """``factor`` > 1 speeds up, < 1 slows down (0.25..4)."""

    factor: float = Field(..., ge=0.25, le=4.0)


def _atempo_chain(factor: float) -> list[float]:
    """atempo takes 0.5..2 per stage; chain stages for the rest."""
    stages = []
    while factor > 2.0:
        stages.append(2.0)
        factor /= 2.0
    while factor < 0.5:
        stages.append(0.5)
        factor /= 0.5
    return [*stages, factor]


def retime_audio(track: AudioTrack, factor: float, duration_s: float) -> AudioTrack:
    """Tempo change without pitch change, padded or cut to ``duration_s``."""
    layout = "mono" if track.channels == 1 else "stereo"
    samples = track.samples[:2]
    graph = av.filter.Graph()
    node = graph.add_abuffer(
        format="fltp", sample_rate=track.rate, layout=layout, time_base=f"1/{track.rate}"
    )
    src = node
    for f in _atempo_chain(factor):
        nxt = graph.add("atempo", f"{f:.6f}")
        node.link_to(nxt)
        node = nxt
    # planar out: left to itself, atempo hands packed samples to the sink (one interleaved
    # row read as mono: an octave down, at twice the length)
    fmt = graph.add("aformat", sample_fmts="fltp", channel_layouts=layout)
    node.link_to(fmt)
    sink = graph.add("abuffersink")
    fmt.link_to(sink)
    graph.configure()
    step, out = 4096, []
    for i in range(0, samples.shape[1], step):
        fr = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples[:, i : i + step]), format="fltp", layout=layout
        )
        fr.sample_rate, fr.pts, fr.time_base = track.rate, i, Fraction(1, track.rate)
        src.push(fr)
        out.extend(_drain(graph))
    src.push(None)
    out.extend(_drain(graph))
    data = np.concatenate(out, axis=1) if out else np.zeros((samples.shape[0], 0), np.float32)
    n = int(round(duration_s * track.rate))
    data = data[:, :n] if data.shape[1] >= n else np.pad(data, ((0, 0), (0, n - data.shape[1])))
    return AudioTrack(data.astype(np.float32), track.rate)


def _drain(graph: av.filter.Graph) -> list[np.ndarray]:
    out = []
    while True:
        try:
            out.append(graph.pull().to_ndarray())
        except (av.error.BlockingIOError, av.error.EOFError):
            return out


def run(ctx: OpContext, cfg: SpeedConfig) -> OpOutput:
    info = ctx.info
    n_out = max(1, int(round(info.frame_count / cfg.factor)))
    src = np.minimum(np.floor(np.arange(n_out) * cfg.factor).astype(int), info.frame_count - 1)
    audio = read_audio(ctx.path)
    track = retime_audio(audio, cfg.factor, n_out / info.fps) if audio else None
    # output frame i shows source frame src[i]: each source frame is written repeats[j] times
    repeats = np.bincount(src, minlength=info.frame_count)
    out, codecs = write_video(ctx, ctx.even_size, repeats=repeats, audio=track)
    data = {"factor": cfg.factor, "frames": n_out, "duration_s": n_out / info.fps}
    return OpOutput([str(out)], {**data, "codecs": codecs})
