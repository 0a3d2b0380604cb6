"""``adcluster video batch FILE.json`` in-process and on the session's Ray instance."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cluster.video_cli import app
from core.settings import get_settings
from core.video.io import probe
from core.video.synth import square_clip


@pytest.fixture()
def batch_file(tmp_path, monkeypatch):
    monkeypatch.setenv("ADCLUSTER_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    media = tmp_path / "data" / "media"
    media.mkdir(parents=True)
    square_clip(media / "a.mp4", duration_s=1.0)
    path = tmp_path / "batch.json"
    path.write_text(
        json.dumps(
            {
                "operations": [
                    {"type": "trim", "video_path": "a.mp4", "config": {"end_s": 0.5}},
                    {"type": "hook_analysis", "video_path": "a.mp4"},
                ],
                "parallel": True,
            }
        )
    )
    yield path
    get_settings.cache_clear()


def test_batch_without_ray(batch_file):
    res = CliRunner().invoke(app, ["batch", str(batch_file), "--no-ray", "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["successful"] == 2 and probe(body["results"][0]["output_path"]).frame_count == 10


@pytest.mark.ray
def test_batch_on_ray_with_progress(batch_file, ray_session):
    res = CliRunner().invoke(app, ["batch", str(batch_file)])
    assert res.exit_code == 0, res.output
    assert "2/2 succeeded" in res.output


def test_hyphenated_types_in_a_batch_file(batch_file, tmp_path):
    hyphens = tmp_path / "hyphens.json"
    hyphens.write_text(
        json.dumps(
            [
                {"type": "color-grade", "video_path": "a.mp4", "config": {"preset": "warm"}},
                {"type": "hook-analysis", "video_path": "a.mp4"},
            ]
        )
    )
    res = CliRunner().invoke(app, ["batch", str(hyphens), "--no-ray", "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert [r["operation"] for r in body["results"]] == ["color_grade", "hook_analysis"]


def test_invalid_batch_exits_2(batch_file, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            [
                {"type": "trim", "video_path": "../etc/passwd"},
                {"type": "warp", "video_path": "a.mp4"},
            ]
        )
    )
    res = CliRunner().invoke(app, ["batch", str(bad), "--no-ray"])
    assert res.exit_code == 2 and "#0" in res.output and "#1" in res.output


def test_variants_without_ray(batch_file, tmp_path):
    from core.db.engine import Database
    from core.db.migrate import prepare

    settings = get_settings()
    db = Database(settings.db_url)
    prepare(db, settings)
    db.dispose()
    media = tmp_path / "data" / "media"
    square_clip(media / "s.mp4", duration_s=2.0, scene_cuts=1)
    args = ["variants", "s.mp4", "-n", "2", "--cta", "Buy", "--no-ray", "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["successful"] == 2 and {v["plan"]["cta"] for v in body["variants"]} == {"Buy"}
    for v in body["variants"]:
        assert probe(v["output_path"]).frame_count == v["plan"]["frames"]
    refused = CliRunner().invoke(app, ["variants", "s.mp4", "--create-experiment", "--no-ray"])
    assert refused.exit_code == 2 and "Thompson sampler" in refused.output
    missing = CliRunner().invoke(app, ["variants", "--ad-id", "nope", "--no-ray"])
    assert missing.exit_code == 2 and "unknown ad" in missing.output


@pytest.mark.parametrize("tenant", ["cli", ".cli", "..cli", ".cli."])
def test_no_tenant_can_name_the_clis_outputs_as_its_own(tmp_path, tenant):
    from cluster.video_cli import CLI_OUTPUTS
    from core.video.errors import PathNotAllowedError
    from core.video.safety import MediaRoots, resolve_input

    roots = MediaRoots(media_root=tmp_path / "media", output_root=tmp_path / "out")
    (tmp_path / "media").mkdir()
    made = tmp_path / "out" / CLI_OUTPUTS / "run" / "v.mp4"
    made.parent.mkdir(parents=True)
    made.write_bytes(b"x")
    with pytest.raises(PathNotAllowedError):
        resolve_input(roots, str(made), tenant)
