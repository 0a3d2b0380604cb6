"""A before/after strip of frames for the README: a generated source and its variants.

Builds a source from ``core.video.synth`` camera-like shots joined by the ``timeline``
operation, makes variants with the variant generator (in this process, no Ray, no database)
following a few example winners, and writes a PNG: the source's frames on top, each
variant's below, every row labelled with what changed.

Usage: ``python scripts/frame_strip.py [--out docs/img/variants_strip.png] [--n 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.domain.video_scale import DURATION_SCALE_S, aspect_feature, squash
from core.learning.patterns import WinnerFacts, extract_patterns
from core.video import MediaRoots, get_video_config, run_operation
from core.video.io import FrameReader
from core.video.synth import camera_clip
from core.video.variant_render import analyse, local_runner, render_variants
from core.video.variants import STANDARD_ASPECTS, plan_variants

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT, FPS, SHOT_FRAMES = 480, 270, 20, 30  # four 1.5 s shots: a 6 s source
ROW_H, COLUMNS, LABEL_H, PAD = 128, 7, 22, 6


def example_winners() -> list[WinnerFacts]:
    """A few winners, as the winner memory would hold them: vertical, short, 'Shop now'."""

    def vec(seconds: float, aspect: float) -> list[float]:
        v = [0.0] * 16
        v[0], v[1] = squash(seconds, DURATION_SCALE_S), aspect_feature(aspect)
        return v

    rows = [
        ("Why pay more?", "Shop now", 5.0, 9 / 16),
        ("Why pay more?", "Shop now", 5.2, 9 / 16),
        ("You need this today", "Shop now", 4.8, 4 / 5),
        ("3 ways to save", "Get yours", 5.1, 9 / 16),
    ]
    return [
        WinnerFacts(f"w{i}", 0.045, 3.4, hook, cta, vec(s, a))
        for i, (hook, cta, s, a) in enumerate(rows)
    ]


def make_source(media: Path, roots: MediaRoots) -> Path:
    """Four camera-like shots, each colour-graded its own way, joined by hard cuts."""
    clips = []
    for k, look in enumerate(("warm", "cool", "mono", "teal_orange")):
        camera_clip(media / f"raw{k}.mp4", width=WIDTH, height=HEIGHT, fps=FPS,
                    frames=SHOT_FRAMES, seed=11 + k)  # fmt: skip
        r = run_operation("color_grade", f"raw{k}.mp4", {"preset": look}, roots=roots)
        if r.status != "success":
            raise SystemExit(f"color_grade failed: {r.error}")
        Path(r.output_path).replace(media / f"shot{k}.mp4")
        clips.append({"path": f"shot{k}.mp4"})
    r = run_operation("timeline", "shot0.mp4", {"clips": clips}, roots=roots)
    if r.status != "success":
        raise SystemExit(f"timeline failed: {r.error}")
    source = media / "source.mp4"
    Path(r.output_path).replace(source)
    return source


def row(path: str, label: str, font: ImageFont.ImageFont) -> Image.Image:
    """``COLUMNS`` frames spread over the clip (the last frame included), labelled."""
    reader = FrameReader(path)
    n = reader.frame_count
    idx = [round(i * (n - 1) / (COLUMNS - 1)) for i in range(COLUMNS)]
    tiles = []
    for f in reader.get(idx):
        img = Image.fromarray(f)
        tiles.append(img.resize((round(img.width * ROW_H / img.height), ROW_H), Image.LANCZOS))
    width = sum(t.width for t in tiles) + PAD * (len(tiles) - 1)
    width = max(width, round(font.getlength(label)) + PAD)
    out = Image.new("RGB", (width, ROW_H + LABEL_H), (255, 255, 255))
    ImageDraw.Draw(out).text((0, 4), label, fill=(20, 20, 20), font=font)
    x = 0
    for t in tiles:
        out.paste(t, (x, LABEL_H))
        x += t.width + PAD
    return out


async def make(out: Path, n: int, seed: int) -> None:
    cfg = get_video_config().variants
    with tempfile.TemporaryDirectory() as tmp:
        media = Path(tmp) / "media"
        media.mkdir()
        roots = MediaRoots(media_root=media, output_root=Path(tmp) / "out")
        source = make_source(media, roots)
        runner = local_runner(roots, tenant="default", feature_dim=16)
        run = roots.output_root / "default" / "variants" / "strip"
        profile = await analyse(runner, "source.mp4", run / "source", max_hook_s=cfg.max_hook_s,
                                hook_text="Meet the new city bike", cta="Learn more")  # fmt: skip
        patterns = extract_patterns(example_winners(), aspects=STANDARD_ASPECTS)
        plans = plan_variants(profile, patterns, n=n, seed=seed, cfg=cfg)
        done = await render_variants(
            runner, "source.mp4", plans, [f"v{p.index}" for p in plans], run, cfg
        )
        font = ImageFont.load_default(size=14)
        rows = [
            row(
                str(source),
                f"source: {profile.aspect}, {profile.duration_s:.1f} s, "
                f"{len(profile.scenes)} scenes, hook '{profile.hook_text}', CTA '{profile.cta}'",
                font,
            )
        ]
        for v in done:
            if v.status != "success":
                raise SystemExit(f"variant {v.name} failed: {v.error}")
            p = v.plan
            rows.append(
                row(
                    v.output_path,
                    f"variant {p.index}: {p.aspect}, {p.output_duration_s:.1f} s, opens on scene "
                    f"{p.hook.scene + 1}, hook '{p.caption}', CTA '{p.cta}' "
                    f"(changed: {', '.join(p.changes)})",
                    font,
                )
            )
    width = max(r.width for r in rows) + 2 * PAD
    strip = Image.new("RGB", (width, sum(r.height + PAD for r in rows) + PAD), (255, 255, 255))
    y = PAD
    for r in rows:
        strip.paste(r, (PAD, y))
        y += r.height + PAD
    out.parent.mkdir(parents=True, exist_ok=True)
    strip.quantize(colors=160, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, optimize=True
    )
    print(f"{out}: {strip.width}x{strip.height}, {out.stat().st_size / 1024:.0f} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "variants_strip.png")
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    np.seterr(all="ignore")
    asyncio.run(make(args.out, args.n, args.seed))


if __name__ == "__main__":
    main()
