"""Variants rendered from a generated source (four coloured scenes, a moving white square,
a tone): each output has the plan's frame count, duration and aspect ratio, opens with the
planned scene, shows its own hook caption over the opening and the CTA end card at the end,
and carries its creative features; intermediate files are gone."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from core.domain.video_scale import DURATION_SCALE_S, aspect_feature, squash
from core.learning.patterns import extract_patterns
from core.video import MediaRoots, get_video_config
from core.video.io import probe
from core.video.ops.caption import CaptionConfig, render_text
from core.video.synth import PALETTE, square_clip
from core.video.variant_render import RenderedVariant, analyse, local_runner, render_variants
from core.video.variants import SourceProfile, caption_config, plan_variants
from tests.core.video.conftest import read_all

CFG = get_video_config().variants
W, H, FPS, SECONDS, SCENES = 320, 180, 20, 4.0, 4


@dataclass
class Rendered:
    source: SourceProfile
    variants: list[RenderedVariant]
    run_dir: Path


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Rendered:
    root = tmp_path_factory.mktemp("variants")
    media = root / "media"
    media.mkdir()
    square_clip(
        media / "src.mp4", width=W, height=H, fps=FPS, duration_s=SECONDS,
        scene_cuts=SCENES - 1, audio=True,
    )  # fmt: skip
    roots = MediaRoots(media_root=media, output_root=root / "out")
    run_dir = roots.output_root / "acme" / "variants" / "run1"
    runner = local_runner(roots, tenant="acme", feature_dim=16)

    async def go() -> Rendered:
        src = await analyse(
            runner, "src.mp4", run_dir / "source", max_hook_s=CFG.max_hook_s,
            hook_text="Old hook", cta="Learn more",
        )  # fmt: skip
        plans = plan_variants(src, extract_patterns([]), n=3, seed=0, cfg=CFG)
        names = [f"v{p.index}" for p in plans]
        out = await render_variants(runner, "src.mp4", plans, names, run_dir, CFG)
        return Rendered(src, out, run_dir)

    return asyncio.run(go())


def luma(img: np.ndarray) -> np.ndarray:
    return img[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def test_the_source_profile(rendered: Rendered):
    src = rendered.source
    assert (src.width, src.height, src.fps, src.frame_count) == (W, H, FPS, SECONDS * FPS)
    assert src.scenes == ((0, 20), (20, 40), (40, 60), (60, 80)) and src.aspect == "16:9"


def test_every_variant_rendered_with_its_plans_geometry_and_timing(rendered: Rendered):
    assert [v.status for v in rendered.variants] == ["success"] * 3
    for v in rendered.variants:
        p = v.plan
        info = probe(v.output_path)
        assert Path(v.output_path) == rendered.run_dir / f"{v.name}.mp4"
        assert info.frame_count == p.frames and info.fps == FPS
        assert info.duration_s == pytest.approx(p.frames / FPS, abs=0.051)
        assert (info.width, info.height) == (p.width, p.height)
        w, h = (int(x) for x in p.aspect.split(":"))
        assert info.width / info.height == pytest.approx(w / h, rel=0.03)
        assert info.has_audio


def test_each_variant_opens_with_its_planned_scene(rendered: Rendered):
    for v in rendered.variants:
        first = read_all(v.output_path)[0]
        corner = first[4:24, 4:24].reshape(-1, 3).mean(axis=0)  # away from square and caption
        assert np.abs(corner - PALETTE[v.plan.hook.scene]).max() < 20, (corner, v.plan.hook)


def caption_mask(text: str, width: int, height: int) -> tuple[np.ndarray, int, int]:
    """Where the caption operation draws ``text``'s glyphs: mask and top-left corner."""
    cfg = CaptionConfig(**caption_config_for(text))
    img = render_text(text, width, height, cfg)
    mask = (img[..., 3] > 250) & (img[..., :3].min(axis=-1) > 200)
    x = (width - img.shape[1]) // 2
    y = int(height * 0.92) - img.shape[0]
    return mask, x, y


def caption_config_for(text: str) -> dict:
    c = CFG.caption
    return {"text": text, "font_scale": c.font_scale, "box_opacity": c.box_opacity}


def overlap(frame: np.ndarray, text: str) -> float:
    """IoU of the frame's near-white pixels with ``text``'s glyphs where captions go."""
    h, w = frame.shape[:2]
    mask, x, y = caption_mask(text, w, h)
    region = luma(frame[y : y + mask.shape[0], x : x + mask.shape[1]]) > 160
    union = (region | mask).sum()
    return float((region & mask).sum() / union) if union else 0.0


def test_each_variant_shows_its_own_hook_caption_over_the_opening(rendered: Rendered):
    captions = {v.plan.caption for v in rendered.variants}
    assert len(captions) >= 2  # the captions differ between variants
    assert all(caption_config(v.plan, CFG)["text"] == v.plan.caption for v in rendered.variants)
    texts = sorted(captions | {"Old hook", *CFG.hooks})
    for v in rendered.variants:
        frames = read_all(v.output_path)
        opening = int(round(v.plan.hook_s * FPS))
        scores = {t: overlap(frames[1], t) for t in texts}
        best, second = sorted(scores, key=scores.get, reverse=True)[:2]
        assert best == v.plan.caption and scores[best] > 0.25, scores
        assert scores[best] > 2 * scores[second], scores
        assert overlap(frames[opening + 2], v.plan.caption) < 0.1  # gone after the opening


def test_each_variant_ends_on_its_cta_end_card(rendered: Rendered):
    bg = np.array(CFG.end_card.background, np.float32)
    for v in rendered.variants:
        frames = read_all(v.output_path)
        last, before = frames[-1], frames[-1 - int(round(v.plan.end_card_s * FPS)) - 2]
        h, w = last.shape[:2]
        edge = np.concatenate([last[: h // 4].reshape(-1, 3), last[-h // 4 :].reshape(-1, 3)])
        assert np.abs(edge.mean(axis=0) - bg).max() < 25  # the card covers the picture
        assert np.abs(before[: h // 4].reshape(-1, 3).mean(axis=0) - bg).max() > 25
        middle = luma(last[int(h * 0.4) : int(h * 0.6)])
        assert (middle > 200).sum() > 20  # the CTA text, white at the centre
        assert (luma(last[: h // 4]) > 200).sum() == 0


def test_features_are_measured_on_each_output(rendered: Rendered):
    vectors = []
    for v in rendered.variants:
        assert len(v.vector) == 16 and v.vector[:2] == [
            pytest.approx(v.features["duration"], abs=1e-6),
            pytest.approx(v.features["aspect"], abs=1e-6),
        ]
        assert v.features["aspect"] == pytest.approx(aspect_feature(v.plan.width / v.plan.height))
        assert v.features["duration"] == pytest.approx(
            squash(v.plan.frames / FPS, DURATION_SCALE_S), abs=1e-3
        )
        assert v.features["has_audio"] == 1.0
        vectors.append(v.vector)
    assert len({tuple(x) for x in vectors}) == len(vectors)


def test_only_the_variants_are_left_in_the_run_folder(rendered: Rendered):
    videos = sorted(p.name for p in rendered.run_dir.rglob("*.mp4"))
    assert videos == sorted(f"{v.name}.mp4" for v in rendered.variants)
    assert list(rendered.run_dir.rglob("*_features.json"))


def test_a_failing_step_fails_only_its_variant(rendered: Rendered):
    root = rendered.run_dir.parents[3]
    roots = MediaRoots(media_root=root / "media", output_root=root / "out")
    base = local_runner(roots, tenant="acme", feature_dim=16)
    plans = [v.plan for v in rendered.variants[:2]]

    async def flaky(op, video, config, work, step):  # noqa: ANN001, ANN202
        if op == "caption" and work.name == "bad":
            return {"status": "failed", "error": "boom"}
        return await base(op, video, config, work, step)

    work = roots.output_root / "acme" / "variants" / "flaky"
    out = asyncio.run(render_variants(flaky, "src.mp4", plans, ["good", "bad"], work, CFG))
    assert [v.status for v in out] == ["success", "failed"]
    assert out[1].error == "caption failed: boom" and out[1].output_path is None
