"""Video benchmarks, same run, same files:

1. decode frames/s: our decord reader (bounded ``get_batch`` chunks) vs PyAV on one file
   (target ≥ 1.0×; headline ``ratio``);
2. a batch of 8 videos on Ray, parallel vs sequential, on this machine's cores
   (target ≥ 1.6×; ``batch_parallel_vs_sequential``).

Writes ``benchmarks/results/video.json``. Run: ``.venv/bin/python benchmarks/video.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import decord

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.video import MediaRoots  # noqa: E402
from core.video.io import FrameReader  # noqa: E402
from core.video.synth import square_clip  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "video.json"


def decode_decord(path: Path) -> tuple[float, float]:
    """Frames per wall-clock and per CPU second of the project's reader (decord, chunks of
    ``read_chunk_frames``, ``decode_threads`` from the config)."""
    t0, c0 = time.perf_counter(), time.process_time()
    reader = FrameReader(path)
    n = sum(len(frames) for _, frames in reader.chunks())
    return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


def decode_pyav(path: Path) -> tuple[float, float]:
    """Frames per wall-clock and per CPU second of PyAV decoding to RGB arrays (defaults)."""
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    with av.open(str(path)) as c:
        for frame in c.decode(c.streams.video[0]):
            frame.to_ndarray(format="rgb24")
            n += 1
    return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


def bench_decode(path: Path, rounds: int) -> dict:
    decode_decord(path), decode_pyav(path)  # warm caches
    dec, pav = [], []
    for i in range(rounds):  # alternate the order so drift hits both sides alike
        if i % 2:
            pav.append(decode_pyav(path))
            dec.append(decode_decord(path))
        else:
            dec.append(decode_decord(path))
            pav.append(decode_pyav(path))
    wall_d, wall_p = [d[0] for d in dec], [p[0] for p in pav]
    cpu_d, cpu_p = [d[1] for d in dec], [p[1] for p in pav]
    return {
        "decord_fps": [round(x, 1) for x in wall_d],
        "pyav_fps": [round(x, 1) for x in wall_p],
        "decord_fps_best": round(max(wall_d), 1),
        "pyav_fps_best": round(max(wall_p), 1),
        "decord_fps_median": round(statistics.median(wall_d), 1),
        "pyav_fps_median": round(statistics.median(wall_p), 1),
        "ratio_median": round(statistics.median(wall_d) / statistics.median(wall_p), 3),
        "decord_frames_per_cpu_s": [round(x, 1) for x in cpu_d],
        "pyav_frames_per_cpu_s": [round(x, 1) for x in cpu_p],
        "ratio_cpu_time_median": round(statistics.median(cpu_d) / statistics.median(cpu_p), 3),
        "ratio": round(max(wall_d) / max(wall_p), 3),
    }


def bench_batch(media: Path, out: Path, rounds: int, op: str, config: dict) -> dict:
    import ray

    from serve_apps.video.batch import OperationSpec, run_batch_sync
    from serve_apps.video.tasks import RunContext

    cpus = os.cpu_count() or 2
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        roots = MediaRoots(media_root=media, output_root=out)
        ops = [OperationSpec(type=op, video_path=f"v{i}.mp4", config=config) for i in range(8)]

        def timed(parallel: bool, tag: str) -> float:
            ctx = RunContext(roots=roots, output_dir=out / tag)
            t0 = time.perf_counter()
            res = run_batch_sync(ops, ctx, parallel=parallel)
            assert res.successful == 8, res.results
            return time.perf_counter() - t0

        timed(True, "warmup")  # start the workers once
        seq, par = [], []
        for r in range(rounds):  # alternate the order so drift hits both sides alike
            if r % 2:
                par.append(timed(True, f"par{r}"))
                seq.append(timed(False, f"seq{r}"))
            else:
                seq.append(timed(False, f"seq{r}"))
                par.append(timed(True, f"par{r}"))
    finally:
        ray.shutdown()
    return {
        "operation": op,
        "config": config,
        "videos": 8,
        "ray_cpus": cpus,
        "sequential_s": [round(x, 3) for x in seq],
        "parallel_s": [round(x, 3) for x in par],
        "sequential_s_best": round(min(seq), 3),
        "parallel_s_best": round(min(par), 3),
        "sequential_s_median": round(statistics.median(seq), 3),
        "parallel_s_median": round(statistics.median(par), 3),
        "speedup_median": round(statistics.median(seq) / statistics.median(par), 3),
        "speedup": round(min(seq) / min(par), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--batch-rounds", type=int, default=7)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        media = Path(tmp) / "media"
        media.mkdir()
        dfile = square_clip(media / "decode.mp4", width=640, height=360, fps=30, duration_s=10.0)
        decode = bench_decode(dfile, args.rounds)
        print(
            f"decode (best of {args.rounds}): decord {decode['decord_fps_best']} fps, PyAV "
            f"{decode['pyav_fps_best']} fps, ratio {decode['ratio']} "
            f"(medians: {decode['ratio_median']})"
        )
        for i in range(8):
            square_clip(
                media / f"v{i}.mp4", width=480, height=270, fps=30, duration_s=3.0, audio=True
            )
        batch = bench_batch(
            media, Path(tmp) / "out", args.batch_rounds, "color_grade", {"preset": "teal_orange"}
        )
        print(
            f"batch of 8 (best of {args.batch_rounds}): sequential {batch['sequential_s_best']} s, "
            f"parallel {batch['parallel_s_best']} s, speedup {batch['speedup']} "
            f"(medians: {batch['speedup_median']})"
        )
    result = {
        "ratio": decode["ratio"],
        "batch_parallel_vs_sequential": batch["speedup"],
        "targets": {"ratio": 1.0, "batch_parallel_vs_sequential": 1.6},
        "method": "sides interleaved in one run; headline figures from each side's best round "
        "(least disturbed by other load on the shared machine); medians alongside",
        "load_average_before": list(load_before),
        "decode": {
            "file": "640x360, 30 fps, 300 frames, H.264 (synthetic, PyAV-written)",
            "decord": "core.video.io.FrameReader (get_batch in chunks)",
            "pyav": "container.decode + to_ndarray(rgb24)",
            **decode,
        },
        "batch": {"files": "8 clips, 480x270, 30 fps, 3 s, AAC audio", **batch},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "decord": decord.__version__,
            "av": av.__version__,
            "platform": platform.platform(),
        },
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
