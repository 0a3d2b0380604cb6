"""Video operations vs the ``ffmpeg`` command line, same run, same file.

A generated 1280×720, 30 fps, 132-frame H.264 clip with camera-like motion, texture and sensor
noise (flat synthetic frames flatter every encoder) and music-like AAC audio. Each operation
runs through ``core.video.runner.run_operation`` (decoder/filter/encoder threads: FFmpeg's
automatic choice, as the CLI's) against the equivalent ``ffmpeg`` command (Debian's package:
installed for the benchmark only, never a runtime dependency), both libx264 veryfast CRF 23.
Audio is handled alike on both sides: copied where the operation leaves it unchanged, AAC
where it changes it (trim, speed). Sides alternate within each round; figures are medians of
the rounds. Headline ``ratio`` = the lowest ffmpeg/ours time ratio over the operations
(target ≥ 1.0 each). ``loudness`` records the EBU R128 normalisation of speech-like and
music-like clips. ``timeline_ratio`` (target ≥ 0.8): a 30-second timeline of five 720p clips
(in/out points, four 0.5 s crossfades, speech-like audio crossfaded alongside) with a music
bed ducked under it and the mix normalised to −14 LUFS, against the same filter graph on the
``ffmpeg`` command line (``xfade``, ``acrossfade``, ``sidechaincompress``, ``amix``,
``loudnorm``); its raw seconds are under ``timeline``.

Usage: ``python benchmarks/video_ops.py [--rounds 5] [--only-timeline]``; writes
``benchmarks/results/video_ops.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.common import RESULTS, write_result  # noqa: E402
from core.video import MediaRoots, run_operation  # noqa: E402
from core.video.io import encode_audio  # noqa: E402
from core.video.synth import camera_clip, music_like, speech_like  # noqa: E402

X264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"]

# operation: (our config, ffmpeg arguments before and after ``-i hd.mp4``)
CASES: dict[str, tuple[dict, list[str], list[str]]] = {
    "color_grade": (
        {"preset": "warm"},
        [],
        ["-vf", "eq=saturation=1.1,colortemperature=temperature=5500", *X264, "-c:a", "copy"],
    ),
    "resize": (
        {"preset": "1:1"},
        [],
        ["-vf", "scale=1080:608:flags=bilinear,pad=1080:1080:0:236", *X264, "-c:a", "copy"],
    ),
    "caption": (
        {"text": "Summer sale: 40% off today only", "start_s": 0.5, "end_s": 3.5},
        [],
        [
            "-vf",
            "drawbox=x=0:y=ih*0.8:w=iw:h=80:color=black@0.55:t=fill:enable='between(t,0.5,3.5)'",
            *X264,
            "-c:a",
            "copy",
        ],
    ),
    "overlay": (
        {"image_path": "logo.png", "position": "bottom_right", "scale": 0.2, "opacity": 0.8},
        [],
        [
            "-i",
            "{logo}",
            "-filter_complex",
            "[1]scale=256:-1,format=rgba,colorchannelmixer=aa=0.8[l];[0][l]overlay=W-w-38:H-h-38",
            *X264,
            "-c:a",
            "copy",
        ],
    ),
    "trim": ({"start_s": 1.0, "end_s": 3.5}, ["-ss", "1.0", "-to", "3.5"], [*X264, "-c:a", "aac"]),
    "speed": (
        {"factor": 2.0},
        [],
        [
            "-filter_complex",
            "[0:v]setpts=PTS/2[v];[0:a]atempo=2[a]",
            "-map",
            "[v]",
            "-map",
            "[a]",
            "-r",
            "30",
            *X264,
            "-c:a",
            "aac",
        ],
    ),
    "transcode": ({}, [], [*X264, "-c:a", "copy"]),
}


def ffmpeg_binary() -> str:
    """Debian's ffmpeg, installed on first use (benchmark only)."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "ffmpeg"], check=True, capture_output=True)
    return shutil.which("ffmpeg") or "ffmpeg"


def run_ours(op: str, config: dict, roots: MediaRoots) -> float:
    t0 = time.perf_counter()
    r = run_operation(op, "hd.mp4", config, roots=roots)
    elapsed = time.perf_counter() - t0
    assert r.status == "success", r.error
    return elapsed


def run_cli(ffmpeg: str, before: list[str], after: list[str], media: Path, out: Path) -> float:
    after = [a.format(logo=media / "logo.png") for a in after]
    cmd = [ffmpeg, "-loglevel", "error", "-y", *before, "-i", str(media / "hd.mp4"), *after]
    t0 = time.perf_counter()
    subprocess.run([*cmd, str(out)], check=True)
    return time.perf_counter() - t0


def bench_ops(ffmpeg: str, media: Path, out: Path, rounds: int) -> dict:
    roots = MediaRoots(media_root=media, output_root=out / "ours")
    results = {}
    for op, (config, before, after) in CASES.items():
        cli_out = out / f"cli_{op}.mp4"
        run_ours(op, config, roots), run_cli(ffmpeg, before, after, media, cli_out)  # warm up
        ours, cli = [], []
        for r in range(rounds):  # alternate the order so drift hits both sides alike
            if r % 2:
                cli.append(run_cli(ffmpeg, before, after, media, cli_out))
                ours.append(run_ours(op, config, roots))
            else:
                ours.append(run_ours(op, config, roots))
                cli.append(run_cli(ffmpeg, before, after, media, cli_out))
        m_ours, m_cli = statistics.median(ours), statistics.median(cli)
        results[op] = {
            "ratio": round(m_cli / m_ours, 3),
            "ours_s_median": round(m_ours, 3),
            "ffmpeg_s_median": round(m_cli, 3),
            "ours_s": [round(x, 3) for x in ours],
            "ffmpeg_s": [round(x, 3) for x in cli],
            "config": config,
            "ffmpeg_args": [*before, "-i", "hd.mp4", *after],
        }
        print(f"{op}: ours {m_ours:.2f} s, ffmpeg {m_cli:.2f} s, ratio {m_cli / m_ours:.2f}")
    return results


def bench_loudness(media: Path, out: Path) -> dict:
    roots = MediaRoots(media_root=media, output_root=out / "loud")
    camera_clip(media / "speech.mp4", width=320, height=180, frames=300, audio=speech_like(10.0))
    camera_clip(media / "music.mp4", width=320, height=180, frames=300, audio=music_like(10.0))
    res = {}
    for name in ("speech", "music"):
        for target in (-14.0, -23.0):
            r = run_operation(
                "loudness_normalize", f"{name}.mp4", {"target_lufs": target}, roots=roots
            )
            assert r.status == "success", r.error
            keep = ("input_lufs", "encoded_lufs", "encoded_true_peak_db", "gain_db", "passes")
            res[f"{name}_{int(target)}"] = {
                "target_lufs": target,
                **{k: r.data[k] for k in keep},
                "within_1_lu": abs(r.data["encoded_lufs"] - target) <= 1.0,
                "elapsed_s": r.elapsed_s,
            }
    return res


TL_CLIPS, TL_IN, TL_LEN, TL_FADE = 5, 0.3, 6.4, 0.5  # 5 × 6.4 s − 4 × 0.5 s = 30 s


def timeline_media(media: Path) -> None:
    """Five 7-second 720p clips with speech-like audio, and a 30-second music bed."""
    for k in range(TL_CLIPS):
        camera_clip(media / f"tl{k}.mp4", frames=210, audio=speech_like(7.0, seed=k), seed=k)
    with av.open(str(media / "bed.m4a"), "w") as out:
        stream = out.add_stream("aac", rate=48_000)
        stream.layout = "stereo"
        encode_audio(out, stream, music_like(30.0))


def timeline_config() -> dict:
    span = {"in": TL_IN, "out": TL_IN + TL_LEN}
    clips = [span] + [{**span, "path": f"tl{k}.mp4"} for k in range(1, TL_CLIPS)]
    return {
        "clips": clips,
        "transition": {"type": "crossfade", "duration_s": TL_FADE},
        "music": {"music_path": "bed.m4a"},  # gains, fades, ducking: configs/video.yaml
        "target_lufs": -14.0,
    }


def timeline_cli_args(media: Path) -> list[str]:
    """The same timeline as one ``ffmpeg`` filter graph (defaults of ``mixing``)."""
    from core.video.config import get_video_config

    mix = get_video_config().mixing
    total = TL_CLIPS * TL_LEN - (TL_CLIPS - 1) * TL_FADE
    args: list[str] = []
    for k in range(TL_CLIPS):
        args += ["-ss", str(TL_IN), "-t", str(TL_LEN), "-i", str(media / f"tl{k}.mp4")]
    args += ["-i", str(media / "bed.m4a")]
    graph = [f"[{k}:v]setpts=PTS-STARTPTS,settb=1/30[v{k}]" for k in range(TL_CLIPS)]
    stereo = "aformat=sample_fmts=fltp:channel_layouts=stereo"
    graph += [f"[{k}:a]asetpts=PTS-STARTPTS,{stereo}[a{k}]" for k in range(TL_CLIPS)]
    v, a = "v0", "a0"
    for k in range(1, TL_CLIPS):
        offset = round(k * (TL_LEN - TL_FADE), 6)
        graph.append(f"[{v}][v{k}]xfade=transition=fade:duration={TL_FADE}:offset={offset}[x{k}]")
        graph.append(f"[{a}][a{k}]acrossfade=d={TL_FADE}:c1=tri:c2=tri[y{k}]")
        v, a = f"x{k}", f"y{k}"
    d = mix.duck
    graph += [
        f"[{a}]asplit=2[voice][key]",
        f"[{TL_CLIPS}:a]{stereo},atrim=0:{total},volume={mix.music_gain_db}dB,"
        f"afade=t=in:d={mix.fade_in_s},afade=t=out:st={total - mix.fade_out_s}:d={mix.fade_out_s}"
        "[bed]",
        f"[bed][key]sidechaincompress=threshold={10 ** (d.threshold_db / 20):.6f}:ratio={d.ratio}"
        f":attack={d.attack_ms}:release={d.release_ms}[ducked]",
        "[voice][ducked]amix=inputs=2:normalize=0:duration=first,"
        f"loudnorm=I={mix.target_lufs}:TP={mix.peak_db},aresample=48000,{stereo}[mix]",
    ]
    maps = ["-map", f"[{v}]", "-map", "[mix]"]
    return [*args, "-filter_complex", ";".join(graph), *maps, *X264, "-c:a", "aac", "-b:a", "128k"]


def bench_timeline(ffmpeg: str, media: Path, out: Path, rounds: int) -> dict:
    roots = MediaRoots(media_root=media, output_root=out / "timeline")
    config, cli_args, cli_out = timeline_config(), timeline_cli_args(media), out / "cli_tl.mp4"

    def ours() -> float:
        t0 = time.perf_counter()
        r = run_operation("timeline", "tl0.mp4", config, roots=roots)
        elapsed = time.perf_counter() - t0
        assert r.status == "success", r.error
        assert abs(r.data["duration_s"] - 30.0) < 1e-6
        return elapsed

    def cli() -> float:
        t0 = time.perf_counter()
        subprocess.run([ffmpeg, "-loglevel", "error", "-y", *cli_args, str(cli_out)], check=True)
        return time.perf_counter() - t0

    ours(), cli()  # warm up
    mine, theirs = [], []
    for r in range(rounds):
        first, second = (cli, ours) if r % 2 else (ours, cli)
        a, b = first(), second()
        mine.append(a if first is ours else b)
        theirs.append(b if first is ours else a)
    m_ours, m_cli = statistics.median(mine), statistics.median(theirs)
    print(f"timeline: ours {m_ours:.2f} s, ffmpeg {m_cli:.2f} s, ratio {m_cli / m_ours:.2f}")
    return {
        "ratio": round(m_cli / m_ours, 3),
        "ours_s_median": round(m_ours, 3),
        "ffmpeg_s_median": round(m_cli, 3),
        "ours_s": [round(x, 3) for x in mine],
        "ffmpeg_s": [round(x, 3) for x in theirs],
        "frames": int(round(30.0 * 30)),
        "config": config,
        "ffmpeg_args": [a.replace(str(media) + "/", "") for a in cli_args],
    }


def timeline_keys(timeline: dict) -> dict:
    """The result's timeline entries (merged into the earlier result by ``--only-timeline``)."""
    return {"timeline_ratio": timeline["ratio"], "timeline": timeline}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--only-timeline",
        action="store_true",
        help="run only the timeline case; its keys replace those of the last result",
    )
    args = ap.parse_args()
    ffmpeg = ffmpeg_binary()
    version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        media, out = Path(tmp) / "media", Path(tmp) / "out"
        media.mkdir()
        if not args.only_timeline:
            camera_clip(media / "hd.mp4", audio=music_like(132 / 30))
            Image.new("RGBA", (400, 160), (230, 40, 40, 255)).save(media / "logo.png")
            ops = bench_ops(ffmpeg, media, out, args.rounds)
            loudness = bench_loudness(media, out)
        timeline_media(media)
        timeline = bench_timeline(ffmpeg, media, out, args.rounds)
    timeline["load_average_before"] = load_before
    timeline["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    if args.only_timeline:
        previous = json.loads((RESULTS / "video_ops.json").read_text())
        previous.pop("machine", None)
        previous.update(timeline_keys(timeline))
        previous["targets"]["timeline_ratio"] = 0.8
        previous["met"]["timeline_ratio"] = timeline["ratio"] >= 0.8
        print(f"timeline ratio {timeline['ratio']}; wrote {write_result('video_ops', previous)}")
        return
    lowest = min(ops, key=lambda k: ops[k]["ratio"])
    result = {
        "benchmark": "video operations: run_operation vs the ffmpeg CLI (same file, same run)",
        "ratio": ops[lowest]["ratio"],
        "lowest": lowest,
        "timeline_ratio": timeline["ratio"],
        "targets": {**{op: 1.0 for op in ops}, "timeline_ratio": 0.8},
        "met": {
            **{op: ops[op]["ratio"] >= 1.0 for op in ops},
            "timeline_ratio": timeline["ratio"] >= 0.8,
        },
        "method": f"medians of {args.rounds} rounds, sides alternating within each round",
        "file": "1280x720, 30 fps, 132 frames, H.264 (camera-like: panned texture, moving "
        "object, sensor noise) + AAC music-like audio",
        "load_average_before": load_before,
        "operations": ops,
        "loudness": loudness,
        "timeline": timeline,
        "versions": {
            "ffmpeg_cli": version.splitlines()[0] if version else "",
            "pyav": av.__version__,
            "pyav_ffmpeg": av.ffmpeg_version_info,
        },
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(f"lowest ratio {result['ratio']} ({lowest}); wrote {write_result('video_ops', result)}")


if __name__ == "__main__":
    main()
