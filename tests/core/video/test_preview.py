"""preview: the proxy and the animated GIF / WebP open, with the configured sizes and frame
counts; requests over the configured limits are refused."""

from __future__ import annotations

import pytest
from PIL import Image

from core.video import get_video_config, run_operation
from core.video.io import probe


def test_proxy_gif_and_webp(run):
    result = run(
        "preview",
        "wide.mp4",  # 320x240, 20 fps, 1.5 s, moving square
        {
            "formats": ["proxy", "gif", "webp"],
            "width": 100,
            "fps": 10,
            "duration_s": 1.0,
            "proxy_height": 120,
        },
    )
    proxy, gif, webp = result.outputs
    info = probe(proxy)
    assert (info.width, info.height, info.frame_count) == (160, 120, 30)
    for path in (gif, webp):
        with Image.open(path) as img:
            assert img.size == (100, 76)
            assert img.n_frames == 10  # 1.0 s at 10 fps
            assert img.is_animated
    with Image.open(gif) as img:
        assert img.format == "GIF" and img.info["duration"] == 100  # ms a frame
    assert result.data["gif"] == {"width": 100, "height": 76, "fps": 10.0, "frames": 10}


def test_defaults_come_from_the_config(run):
    pc = get_video_config().previews
    result = run("preview", "clip.mp4")  # 160x120, 1 s: shorter than the default duration
    proxy, gif = result.outputs
    assert probe(proxy).height == min(pc.proxy_height, 120)
    with Image.open(gif) as img:
        assert img.size[0] == min(pc.width, 160)
        assert img.n_frames == round(min(pc.duration_s, 1.0) * pc.fps)


def test_start_s_picks_the_window(run):
    result = run("preview", "wide.mp4", {"formats": ["gif"], "start_s": 1.0, "fps": 10})
    with Image.open(result.outputs[0]) as img:
        assert img.n_frames == 5  # the 0.5 s left


@pytest.mark.parametrize(
    "config, message",
    [
        ({"width": 100_000}, "width is at most"),
        ({"fps": 1000}, "fps is at most"),
        ({"duration_s": 3600}, "duration_s is at most"),
        ({"formats": ["gif", "gif"]}, "repeat"),
        ({"formats": ["mov"]}, "formats"),
        ({"start_s": 50}, "past the end"),
    ],
)
def test_limits_and_bad_configs(roots, config, message):
    result = run_operation("preview", "clip.mp4", config, roots=roots)
    assert result.status == "failed" and message in result.error
