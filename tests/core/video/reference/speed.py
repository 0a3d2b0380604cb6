"""Speed change: frames resampled at the same frame rate; audio tempo-changed (atempo)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
from pydantic import Field

from core.video.io import AudioTrack, read_audio
from core.video.ops.base import OpConfig, OpContext, OpOutput, map_frames


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
    sink = graph.add("abuffersink")
    node.link_to(sink)
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
    src = [min(int(np.floor(i * cfg.factor)), info.frame_count - 1) for i in range(n_out)]
    audio = read_audio(ctx.path)
    track = retime_audio(audio, cfg.factor, n_out / info.fps) if audio else None
    # decord reads each distinct index once; src is non-decreasing, so each chunk yields
    # its run of output frames in order (repeated indices repeat frames in slow motion)
    uniq = sorted(set(src))
    src_arr = np.asarray(src)

    def expand(idx: list[int], frames: np.ndarray):
        pos = dict(zip(idx, frames, strict=True))
        lo, hi = np.searchsorted(src_arr, [idx[0], idx[-1] + 1])
        return [pos[s] for s in src[lo:hi]]

    out = map_frames(ctx, expand, ctx.even_size, indices=uniq, audio=track)
    return OpOutput(
        [str(out)], {"factor": cfg.factor, "frames": n_out, "duration_s": n_out / info.fps}
    )
