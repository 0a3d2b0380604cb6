"""motion_graphics: keyframed layers land where their tracks put them (bounding boxes found
in the decoded output), hidden frames are untouched, presets and asset references work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.db.engine import Database
from core.video import MediaRoots, run_operation
from core.video.library import save_upload
from core.video.synth import write_frames
from tests.core.video.conftest import read_all
from tests.support.media_files import font_path, png_bytes

FPS = 20
GREY = 60


@pytest.fixture(scope="module")
def mg_media(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mg-media")
    flat = np.full((120, 160, 3), GREY, np.uint8)
    write_frames(root / "flat.mp4", [flat] * 40, fps=FPS)  # 2 s
    Image.new("RGBA", (30, 16), (255, 255, 255, 255)).save(root / "white.png")
    Image.new("RGBA", (20, 20), (255, 0, 0, 255)).save(root / "red.png")
    return root


@pytest.fixture()
def mg_roots(mg_media: Path, tmp_path: Path) -> MediaRoots:
    return MediaRoots(media_root=mg_media, output_root=tmp_path / "out")


def bright_box(frame: np.ndarray, threshold: int = 160) -> tuple[int, int, int, int] | None:
    """``(x, y, w, h)`` of the pixels brighter than ``threshold`` (luma), or None."""
    luma = frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    ys, xs = np.nonzero(luma > threshold)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def assert_box(got, want, tol: int = 1) -> None:
    assert got is not None, f"layer not found, expected {want}"
    assert all(abs(g - w) <= tol for g, w in zip(got, want, strict=True)), (got, want)


def run_mg(roots: MediaRoots, layers: list[dict], tenant: str = "default"):
    result = run_operation(
        "motion_graphics", "flat.mp4", {"layers": layers}, roots=roots, tenant=tenant
    )
    assert result.status == "success", result.error
    return result, read_all(result.output_path)


def test_keyed_frames_put_the_layer_exactly_where_asked(mg_roots):
    keys = [
        {"t": 0.0, "x": 10, "y": 10, "easing": "ease_in_out"},
        {"t": 0.5, "x": 61, "y": 41, "easing": "ease"},  # odd position
        {"t": 1.0, "x": 100, "y": 80, "scale": 1.5, "easing": [0.2, 0.8, 0.2, 1.0]},
        {"t": 1.5, "x": 40, "y": 50, "scale": 0.5},
    ]
    layer = {
        "type": "image",
        "image": "white.png",
        "width": 30 / 160,
        "units": "px",
        "keyframes": keys,
    }
    result, frames = run_mg(mg_roots, [layer])
    assert len(frames) == 40 and result.data["drawn"] == 1
    assert_box(bright_box(frames[0]), (10, 10, 30, 16))
    assert_box(bright_box(frames[10]), (61, 41, 30, 16))
    assert_box(bright_box(frames[20]), (100, 80, 45, 24))
    assert_box(bright_box(frames[30]), (40, 50, 15, 8))
    assert_box(bright_box(frames[39]), (40, 50, 15, 8))  # held after the last key
    xs = [bright_box(f)[0] for f in frames[:11]]
    assert xs == sorted(xs) and xs[0] < xs[5] < xs[10]  # moves monotonically in between


def test_opacity_zero_frames_show_no_layer(mg_roots):
    keys = [
        {"t": 0.0, "x": 0.5, "y": 0.5, "opacity": 0.0, "easing": "hold"},
        {"t": 0.5, "x": 0.5, "y": 0.5, "opacity": 1.0, "easing": "hold"},
        {"t": 1.0, "x": 0.5, "y": 0.5, "opacity": 0.0},
    ]
    layer = {"type": "image", "image": "white.png", "anchor": "center", "keyframes": keys}
    _, frames = run_mg(mg_roots, [layer])
    for i in (0, 5, 20, 25, 39):  # hold: 0 until t=0.5, 1 until t=1.0, then 0
        assert bright_box(frames[i], threshold=GREY + 12) is None, i
    for i in (10, 15, 19):
        assert_box(bright_box(frames[i]), (80 - 16, 60 - 9, 32, 17))  # centred, width 0.2


def test_text_layer_with_a_font_file_and_the_default_font(mg_roots, mg_media):
    font = mg_media / "DejaVuSans.ttf"
    font.write_bytes(font_path().read_bytes())
    keys = [{"t": 0.0, "x": 0.1, "y": 0.1}]
    layers = [
        {"type": "text", "text": "SALE", "font": "DejaVuSans.ttf", "keyframes": keys},
        {"type": "text", "text": "now", "keyframes": [{"t": 0, "x": 0.1, "y": 0.6}]},
    ]
    _, frames = run_mg(mg_roots, layers)
    top, bottom = bright_box(frames[5][:60]), bright_box(frames[5][60:])
    assert top is not None and bottom is not None
    assert top[0] >= 16 and top[1] >= 12


def test_lower_third_slides_in_holds_and_leaves(mg_roots):
    lt = {
        "type": "lower_third",
        "name": "Ada Lovelace",
        "title": "Founder",
        "start_s": 0.2,
        "duration_s": 1.4,
        "slide_s": 0.3,
    }
    _, frames = run_mg(mg_roots, [lt])

    def stripe_x(frame):
        f = frame.astype(int)
        mask = (f[..., 0] > 200) & (f[..., 1] > 140) & (f[..., 2] < 90)  # the yellow accent
        xs = np.nonzero(mask)[1]
        return int(xs.min()) if len(xs) > 8 else None

    def bar_right(frame):
        xs = np.nonzero(frame.max(axis=-1) < 40)[1]  # the dark bar
        return int(xs.max()) if len(xs) else None

    assert stripe_x(frames[0]) is None and stripe_x(frames[39]) is None
    assert bar_right(frames[3]) is None and bar_right(frames[39]) is None
    assert 0 < bar_right(frames[5]) < bar_right(frames[7]) < bar_right(frames[10])  # sliding in
    for i in (10, 20, 25):
        assert abs(stripe_x(frames[i]) - 8) <= 1  # held at the 5% margin
    assert bar_right(frames[29]) < bar_right(frames[25])  # sliding out


def test_end_card_covers_the_last_seconds(mg_roots):
    card = {
        "type": "end_card",
        "cta": "Shop now",
        "duration_s": 1.0,
        "fade_s": 0.25,
        "logo": "red.png",
    }
    _, frames = run_mg(mg_roots, [card])
    assert abs(frames[10].mean() - GREY) < 2  # before the card: untouched
    last = frames[39].astype(int)
    corner = last[:10, :10].mean()
    assert corner < GREY * 0.3  # 85% black background
    assert bright_box(frames[39][60:]) is not None  # the CTA text, lower half
    red = (last[..., 0] > 150) & (last[..., 1] < 90)
    assert red[:60].sum() > 100  # the logo above it


@pytest.mark.parametrize(
    "layers, message",
    [
        ([], "at least 1"),
        ([{"type": "image", "image": "white.png", "keyframes": []}], "at least 1"),
        (
            [
                {
                    "type": "text",
                    "text": "a",
                    "keyframes": [{"t": 1, "x": 0, "y": 0}, {"t": 1, "x": 1, "y": 1}],
                }
            ],
            "increase",
        ),
        (
            [
                {
                    "type": "text",
                    "text": "a",
                    "keyframes": [{"t": 0, "x": 0, "y": 0, "easing": "wobble"}],
                }
            ],
            "unknown easing",
        ),
        ([{"type": "sparkles"}], "type"),
        ([{"type": "lower_third", "name": "x", "duration_s": 1, "slide_s": 0.5}], "slide_s"),
    ],
)
def test_bad_configs_are_refused(mg_roots, layers, message):
    result = run_operation("motion_graphics", "flat.mp4", {"layers": layers}, roots=mg_roots)
    assert result.status == "failed" and message in result.error


def test_image_path_cannot_escape(mg_roots):
    layer = {"type": "image", "image": "../secret.png", "keyframes": [{"t": 0, "x": 0, "y": 0}]}
    result = run_operation("motion_graphics", "flat.mp4", {"layers": [layer]}, roots=mg_roots)
    assert result.status == "failed" and ".." in result.error


# -- asset references ------------------------------------------------------------------


@pytest.fixture()
def asset_db(make_settings) -> Database:
    db = Database(make_settings("sqlite").db_url)
    yield db
    db.dispose()


def _upload(db, root, tenant, kind, data: bytes, name="x"):
    record, created = save_upload(
        db,
        root,
        tenant,
        kind=kind,
        name=name,
        tags=[],
        filename=f"{name}.bin",
        chunks=[data],
        max_bytes=10**8,
    )
    assert created
    return record


def test_layers_and_overlay_use_the_tenants_assets(mg_roots, mg_media, asset_db):
    root = mg_media
    logo = _upload(asset_db, root, "acme", "logo", png_bytes((30, 16), (255, 255, 255, 255)))
    font = _upload(asset_db, root, "acme", "font", font_path().read_bytes(), name="dejavu")
    layers = [
        {
            "type": "image",
            "image": f"asset:{logo.asset_id}",
            "width": 30 / 160,
            "units": "px",
            "keyframes": [{"t": 0, "x": 20, "y": 30}],
        },
        {
            "type": "text",
            "text": "Hi",
            "font": {"asset_id": font.asset_id},
            "keyframes": [{"t": 0, "x": 0.6, "y": 0.6}],
        },
    ]
    _, frames = run_mg(mg_roots, layers, tenant="acme")
    assert_box(bright_box(frames[3][:60, :80]), (20, 30, 30, 16))
    assert bright_box(frames[3][70:, 96:]) is not None

    overlay = run_operation(
        "overlay",
        "flat.mp4",
        {"image_path": {"asset_id": logo.asset_id}},
        roots=mg_roots,
        tenant="acme",
    )
    assert overlay.status == "success", overlay.error


def test_another_tenants_asset_is_not_found(mg_roots, mg_media, asset_db):
    logo = _upload(asset_db, mg_media, "acme", "logo", png_bytes((8, 8), (1, 2, 3, 255)))
    layer = {
        "type": "image",
        "image": f"asset:{logo.asset_id}",
        "keyframes": [{"t": 0, "x": 0, "y": 0}],
    }
    other = run_operation(
        "motion_graphics", "flat.mp4", {"layers": [layer]}, roots=mg_roots, tenant="globex"
    )
    assert other.status == "failed" and "not found" in other.error
    # nor through a plain path into its folder
    layer["image"] = f"assets/acme/{logo.asset_id}.png"
    direct = run_operation(
        "motion_graphics", "flat.mp4", {"layers": [layer]}, roots=mg_roots, tenant="globex"
    )
    assert direct.status == "failed" and "another tenant" in direct.error
    # a logo asset is not a font
    text = {
        "type": "text",
        "text": "x",
        "font": f"asset:{logo.asset_id}",
        "keyframes": [{"t": 0, "x": 0, "y": 0}],
    }
    wrong = run_operation(
        "motion_graphics", "flat.mp4", {"layers": [text]}, roots=mg_roots, tenant="acme"
    )
    assert wrong.status == "failed" and "font" in wrong.error
