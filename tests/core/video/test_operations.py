"""Every operation on synthetic clips: the output decodes, has the expected geometry and
timing, and its content changed as asked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.video import OPERATIONS, run_operation
from core.video.io import probe, read_audio
from core.video.ops.loudness_normalize import integrated_loudness
from tests.core.video.conftest import read_all


def white_centre_x(frame: np.ndarray) -> float | None:
    """Mean x of near-white pixels (the moving square), or None when it is not visible."""
    mask = frame.min(axis=-1) > 220
    return float(np.nonzero(mask)[1].mean()) if mask.sum() > 20 else None


def test_every_spec_operation_is_registered():
    assert set(OPERATIONS) == {
        "scene_detect",
        "smart_crop",
        "color_grade",
        "caption",
        "thumbnail",
        "trim",
        "resize",
        "speed",
        "overlay",
        "loudness_normalize",
        "hook_analysis",
        "creative_features",
        "transcode",
        "timeline",
        "audio_mix",
        "motion_graphics",
        "preview",
    }


def test_hyphenated_type_is_the_same_operation(run):
    from core.video import get_operation, is_gpu_capable

    r = run("color-grade", "clip.mp4", {"preset": "cool"})
    assert r.operation == "color_grade" and "/color_grade/" in r.output_path
    assert get_operation("loudness-normalize") is get_operation("loudness_normalize")
    assert is_gpu_capable("smart-crop")


def odd_clip(path: Path, width: int = 161, height: int = 121, frames: int = 10) -> Path:
    """An odd-sized clip (4:4:4 H.264 allows odd sides) with a tone."""
    import av

    from core.video.io import encode_audio
    from core.video.synth import tone

    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=20)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv444p"
        aus = out.add_stream("aac", rate=48_000)
        aus.layout = "stereo"
        for i in range(frames):
            rgb = np.full((height, width, 3), 40 + 10 * i, np.uint8)
            out.mux(vs.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(vs.encode(None))
        encode_audio(out, aus, tone(frames / 20))
    return path


def test_odd_sizes_are_rounded_to_even(run, media):
    odd_clip(media / "odd.mp4")
    for op, config in [("color_grade", {"preset": "warm"}), ("overlay", {"text": "x"})]:
        info = probe(run(op, "odd.mp4", config).output_path)
        assert (info.width, info.height, info.frame_count, info.has_audio) == (160, 120, 10, True)


def test_scene_detect_finds_each_cut(run):
    r = run("scene_detect", "cuts.mp4")  # 40 frames, 4 scenes: cuts at 10, 20, 30
    assert r.data["scene_count"] == 4
    assert r.data["cut_frames"] == [10, 20, 30]
    assert json.loads(Path(r.output_path).read_text())["cut_frames"] == [10, 20, 30]
    assert run("scene_detect", "clip.mp4").data["scene_count"] == 1  # motion alone is no cut


def test_smart_crop_follows_the_moving_square(run):
    r = run("smart_crop", "wide.mp4", {"aspect": "9:16"})
    info = probe(r.output_path)
    assert (info.width, info.height) == (136, 240)
    assert abs(info.width / info.height - 9 / 16) < 0.02
    assert info.frame_count == 30 and abs(info.duration_s - 1.5) < 0.01
    frames = read_all(r.output_path)
    visible = [white_centre_x(f) for f in frames]
    assert sum(v is not None for v in visible) >= 28  # a centre crop would lose it mostly
    xs = r.data["crop_x"]
    assert xs[-1] - xs[0] > 120  # the window travelled with the square


def test_smart_crop_square_output_height(run):
    r = run("smart_crop", "wide.mp4", {"aspect": "1:1", "height": 100})
    info = probe(r.output_path)
    assert (info.width, info.height) == (100, 100)


def test_color_grade_moves_mean_colour(run):
    before = read_all(run("transcode", "clip.mp4").output_path).reshape(-1, 3).mean(axis=0)
    warm = read_all(run("color_grade", "clip.mp4", {"preset": "warm"}).output_path)
    after = warm.reshape(-1, 3).mean(axis=0)
    assert after[0] - before[0] > 8 and before[2] - after[2] > 8
    mono = read_all(run("color_grade", "clip.mp4", {"saturation": 0.0}).output_path)
    assert np.abs(mono.astype(int) - mono.mean(axis=-1, keepdims=True)).mean() < 3
    info = probe(run("color_grade", "clip.mp4", {"preset": "vintage"}).output_path)
    assert (info.width, info.height, info.frame_count, info.has_audio) == (160, 120, 20, True)


def test_caption_burns_text_only_inside_its_time_window(run):
    plain = read_all(run("transcode", "static.mp4").output_path).astype(int)
    r = run("caption", "static.mp4", {"text": "BUY NOW", "start_s": 0.25, "end_s": 0.75})
    cap = read_all(r.output_path).astype(int)
    x, y, w, h = r.data["boxes"][0]
    region = (slice(y, y + h), slice(x, x + w))
    diff = [np.abs(cap[i][region] - plain[i][region]).mean() for i in range(20)]
    assert min(diff[6:14]) > 10  # frames 5..14 are inside the window
    assert max(diff[:4] + diff[16:]) < 3


def test_caption_from_srt(run, media):
    (media / "subs.srt").write_text(
        "1\n00:00:00,000 --> 00:00:00,500\nFirst line\n\n2\n00:00:00,500 --> 00:00:01,000\nSecond\n"
    )
    r = run("caption", "static.mp4", {"srt_path": "subs.srt", "position": "top"})
    assert [c["text"] for c in r.data["cues"]] == ["First line", "Second"]
    assert probe(r.output_path).frame_count == 20
    inline = run("caption", "static.mp4", {"srt": (media / "subs.srt").read_text()})
    assert len(inline.data["cues"]) == 2


def test_thumbnail_prefers_sharp_well_exposed_frames(run, media):
    from core.video.synth import write_frames

    rng = np.random.default_rng(1)
    frames = [np.full((120, 160, 3), 8, np.uint8) for _ in range(10)]  # dark, flat
    frames += [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(10)]
    write_frames(media / "thumbs.mp4", frames, fps=20)
    r = run("thumbnail", "thumbs.mp4", {"count": 2, "min_gap_s": 0.2, "width": 80})
    assert len(r.outputs) == 2
    assert all(t["frame"] >= 10 for t in r.data["thumbnails"])
    assert Image.open(r.outputs[0]).size == (80, 60)
    scores = [t["score"] for t in r.data["thumbnails"]]
    assert scores == sorted(scores, reverse=True)


def test_trim_cuts_frames_and_audio(run):
    r = run("trim", "clip.mp4", {"start_s": 0.25, "end_s": 0.75})
    info = probe(r.output_path)
    assert info.frame_count == 10 and abs(info.duration_s - 0.5) < 1e-6
    src = read_all(Path(r.output_path))
    assert white_centre_x(src[0]) > 25  # starts with the square already moved
    audio = read_audio(r.output_path)
    assert audio is not None and abs(audio.duration_s - 0.5) < 0.05
    r2 = run("trim", "clip.mp4", {"start_s": 0.5, "duration_s": 10})
    assert probe(r2.output_path).frame_count == 10  # clamped at the end


@pytest.mark.parametrize(
    ("config", "size"),
    [
        ({"preset": "9:16", "height": 160}, (90, 160)),
        ({"preset": "1:1", "height": 120}, (120, 120)),
        ({"preset": "4:5", "width": 96}, (96, 120)),
        ({"preset": "16:9", "height": 90}, (160, 90)),
        ({"width": 64, "height": 48, "mode": "stretch"}, (64, 48)),
    ],
)
def test_resize_to_platform_presets(run, config, size):
    r = run("resize", "clip.mp4", config)
    info = probe(r.output_path)
    assert (info.width, info.height) == size
    assert info.frame_count == 20 and info.has_audio


def test_resize_fit_letterboxes_and_fill_crops(run):
    fit = read_all(
        run(
            "resize", "static.mp4", {"preset": "1:1", "height": 120, "pad_color": [0, 255, 0]}
        ).output_path
    )
    assert fit[0][2, 60, 1] > 200 and fit[0][2, 60, 0] < 60  # green bar at the top
    fill = read_all(
        run("resize", "static.mp4", {"preset": "1:1", "height": 120, "mode": "fill"}).output_path
    )
    assert fill[0][2, 60, 1] < 150  # no bar: the picture fills the frame


@pytest.mark.parametrize(("factor", "frames"), [(2.0, 10), (0.5, 40)])
def test_speed_changes_duration_and_motion(run, factor, frames):
    r = run("speed", "clip.mp4", {"factor": factor})
    info = probe(r.output_path)
    assert info.frame_count == frames and info.fps == 20.0
    audio = read_audio(r.output_path)
    assert audio is not None and abs(audio.duration_s - frames / 20) < 0.06
    out = read_all(r.output_path)
    # the square crosses the whole frame either way
    assert white_centre_x(out[-1]) - white_centre_x(out[0]) > 100


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_speed_keeps_the_pitch_and_both_channels(factor):
    from core.video.ops.speed import retime_audio
    from core.video.synth import tone

    out = retime_audio(tone(2.0, freq=880.0), factor, 2.0 / factor)
    assert out.samples.shape == (2, int(96_000 / factor))
    spectrum = np.abs(np.fft.rfft(out.samples[0]))
    peak = np.fft.rfftfreq(out.samples.shape[1], 1 / 48_000)[np.argmax(spectrum)]
    assert abs(peak - 880.0) < 2  # atempo's packed output once read as mono: 440 Hz


def test_overlay_places_logo_in_the_corner(run):
    r = run(
        "overlay",
        "static.mp4",
        {"image_path": "logo.png", "position": "top_right", "opacity": 1.0, "scale": 0.25},
    )
    x, y, w, h = r.data["box"]
    assert x + w <= 160 and x > 80 and y < 20
    frame = read_all(r.output_path)[5].astype(int)
    patch = frame[y + 2 : y + h - 2, x + 2 : x + w - 2].reshape(-1, 3).mean(axis=0)
    assert patch[0] > 200 and patch[1] < 60  # red logo
    assert probe(r.output_path).frame_count == 20
    text = run("overlay", "static.mp4", {"text": "@brand", "position": "bottom_left"})
    assert text.status == "success"


def test_loudness_normalize_reaches_target(run):
    r = run("loudness_normalize", "quiet.mp4", {"target_lufs": -16})
    assert r.data["input_lufs"] < -30
    audio = read_audio(r.output_path)
    assert abs(integrated_loudness(audio) - (-16)) < 1.0
    info = probe(r.output_path)
    assert (info.width, info.height, info.frame_count) == (160, 120, 40)


def test_loudness_normalize_without_audio_fails_clearly(roots):
    r = run_operation("loudness_normalize", "wide.mp4", {}, roots=roots)
    assert r.status == "failed" and "no audio" in r.error


def test_hook_analysis_separates_motion_and_cuts(run):
    moving = run("hook_analysis", "clip.mp4", {"seconds": 1}).data
    static = run("hook_analysis", "static.mp4", {"seconds": 1}).data
    cuts = run("hook_analysis", "cuts.mp4", {"seconds": 2}).data
    assert moving["motion"] > 5 * max(static["motion"], 1e-4)
    assert static["cuts"] == 0 and cuts["cuts"] == 3 and cuts["cut_rate"] == 1.5
    assert cuts["hook_score"] > static["hook_score"]
    assert 0 <= moving["brightness"] <= 1 and moving["frames"] == 20


def test_creative_features_vector(run, media):
    r = run("creative_features", "clip.mp4")
    vec = r.data["vector"]
    assert len(vec) == 16 and all(0.0 <= v <= 1.0 for v in vec)
    feats = r.data["features"]
    assert feats["has_audio"] == 1.0
    static = run("creative_features", "static.mp4").data["features"]
    assert feats["motion_mean"] > static["motion_mean"] and static["has_audio"] == 0.0
    assert len(run("creative_features", "clip.mp4", {"dim": 20}).data["vector"]) == 20


def test_creative_features_function_uses_configured_dim(media, monkeypatch):
    from core.settings import get_settings
    from core.video import creative_features

    vec = creative_features(media / "clip.mp4")
    assert len(vec) == get_settings().memory.video_dim
    assert len(creative_features(media / "clip.mp4", dim=8)) == 8


@pytest.mark.parametrize(
    ("config", "codec", "frames", "fps"),
    [({"codec": "mpeg4"}, "mpeg4", 20, 20.0), ({"fps": 10, "crf": 30}, "h264", 10, 10.0)],
)
def test_transcode(run, config, codec, frames, fps):
    info = probe(run("transcode", "clip.mp4", config).output_path)
    assert info.video_codec == codec and info.frame_count == frames and info.fps == fps
    assert abs(info.duration_s - 1.0) < 1e-6 and info.has_audio


def test_transcode_to_mkv(run):
    r = run("transcode", "clip.mp4", {"container": "mkv", "drop_audio": True})
    assert r.output_path.endswith(".mkv") and not probe(r.output_path).has_audio


@pytest.mark.parametrize(
    ("video", "message"),
    [
        ("missing.mp4", "not found"),
        ("empty.mp4", "empty"),
        ("corrupt.mp4", "not a readable video"),
        ("notes.txt", "not a readable video"),
        ("../outside.mp4", "'..'"),
        ("/etc/hostname", "outside the media root"),
    ],
)
def test_bad_inputs_fail_per_operation(roots, video, message):
    r = run_operation("trim", video, {"start_s": 0}, roots=roots)
    assert r.status == "failed" and message in r.error and r.outputs == []


@pytest.mark.parametrize(
    ("op", "config", "message"),
    [
        ("nope", {}, "unknown operation type"),
        ("speed", {}, "factor"),
        ("speed", {"factor": 10}, "factor"),
        ("trim", {"start_s": 1, "end_s": 0.5}, "end_s must be after"),
        ("color_grade", {"preset": "sepia-ish"}, "unknown preset"),
        ("resize", {"preset": "3:7"}, "unknown preset"),
        ("smart_crop", {"aspect": "wide"}, "aspect"),
        ("caption", {}, "exactly one"),
        ("overlay", {"text": "a", "image_path": "logo.png"}, "exactly one"),
        ("transcode", {"codec": "vp9"}, "codec"),
        ("trim", {"start": 1}, "Extra inputs"),
    ],
)
def test_bad_configs_fail_with_named_field(roots, op, config, message):
    r = run_operation(op, "clip.mp4", config, roots=roots)
    assert r.status == "failed" and message in r.error


def test_limits_are_enforced(roots, monkeypatch):
    from core.video.config import VideoConfig

    base = VideoConfig.load()

    def with_limit(**limit):  # type: ignore[no-untyped-def]
        return base.model_copy(update={"limits": base.limits.model_copy(update=limit)})

    vc = with_limit(max_duration_s=0.5)
    r = run_operation("trim", "clip.mp4", {}, roots=roots, video_config=vc)
    assert r.status == "failed" and "over the limit" in r.error
    vc = with_limit(max_file_bytes=100)
    r = run_operation("trim", "clip.mp4", {}, roots=roots, video_config=vc)
    assert r.status == "failed" and "bytes" in r.error


def test_srt_path_cannot_escape(roots):
    r = run_operation("caption", "clip.mp4", {"srt_path": "../../etc/passwd"}, roots=roots)
    assert r.status == "failed" and "srt_path" in r.error


def test_gpu_codecs_fall_back_to_the_cpu_when_they_cannot_open(roots, monkeypatch):
    from core.video import pipeline

    r = run_operation("resize", "clip.mp4", {"preset": "1:1", "height": 64}, roots=roots, gpu=True)
    assert r.status == "success", r.error
    codecs = r.data["codecs"]
    assert (codecs["decoder"], codecs["encoder"]) == ("h264", "libx264")
    assert any("h264_cuvid" in f for f in codecs["gpu_fallbacks"])
    assert any("h264_nvenc" in f for f in codecs["gpu_fallbacks"])
    assert probe(r.output_path).frame_count == 20
    # codecs that pass the cached probe but fail to open on the stream: still the CPU path
    monkeypatch.setattr(pipeline, "_gpu_codec_error", lambda *a: None)
    r = run_operation("transcode", "clip.mp4", {}, roots=roots, gpu=True)
    assert r.status == "success", r.error
    assert (r.data["codecs"]["decoder"], r.data["codecs"]["encoder"]) == ("h264", "libx264")
    assert len(r.data["codecs"]["gpu_fallbacks"]) == 2
    off = run_operation("resize", "clip.mp4", {"preset": "1:1", "height": 64}, roots=roots)
    assert off.data["codecs"]["gpu_fallbacks"] == []
