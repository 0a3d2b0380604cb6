"""``python -m cluster.video_job BATCH.json``: a batch of pro video operations as Ray tasks, one
``RESULT`` line, exit 0 / 3 (some failed) / 2 (a bad batch, nothing ran)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cluster.video_job import main
from core.job_entry import parse_result
from core.video.io import probe
from core.video.synth import square_clip


@pytest.fixture
def media(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ADCLUSTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    root = tmp_path / "data" / "media"
    root.mkdir(parents=True)
    square_clip(root / "a.mp4", duration_s=1.0)
    (root / "broken.mp4").write_bytes(b"\x00not a video" * 64)
    return root


def run(capsys: pytest.CaptureFixture[str], path: Path, body: Any) -> tuple[int, dict]:
    path.write_text(json.dumps(body) if not isinstance(body, str) else body)
    code = main([str(path)])
    return code, parse_result(capsys.readouterr().out)


@pytest.mark.ray
def test_a_batch_runs_as_ray_tasks(
    ray_session: None, media: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ops = [
        {"type": "trim", "video_path": "a.mp4", "config": {"end_s": 0.5}},
        {"type": "hook-analysis", "video_path": "a.mp4"},
    ]
    code, result = run(capsys, tmp_path / "ok.json", {"operations": ops, "parallel": True})
    assert code == 0, result
    assert (result["status"], result["total"], result["successful"]) == ("completed", 2, 2)
    trimmed = Path(result["results"][0]["output_path"])
    assert trimmed.is_relative_to(Path(result["output_dir"])) and probe(trimmed).frame_count == 10
    assert result["output_dir"].endswith(f"/outputs/default/jobs/{result['run_id']}")
    assert all(r["node_id"] for r in result["results"])
    assert result["results"][1]["operation"] == "hook_analysis"


@pytest.mark.ray
def test_a_failing_operation_makes_the_batch_partial(
    ray_session: None, media: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ops = [
        {"type": "transcode", "video_path": "a.mp4"},
        {"type": "transcode", "video_path": "broken.mp4"},
    ]
    code, result = run(capsys, tmp_path / "partial.json", ops)
    assert code == 3 and result["status"] == "partial" and result["successful"] == 1
    failed = result["results"][1]
    assert failed["status"] == "failed" and failed["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            [
                {"type": "trim", "video_path": "../etc/passwd"},
                {"type": "warp", "video_path": "a.mp4"},
            ],
            "2 invalid operation(s); nothing ran",
        ),
        ({"operations": []}, "no operations"),
        ({"operations": [{"type": "trim"}]}, "invalid operation"),
        ("{not json", "Expecting property name"),
        ({"ops": "x"}, "no operations"),
    ],
)
def test_a_bad_batch_exits_2_before_anything_runs(
    media: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], body: Any, message: str
) -> None:
    code, result = run(capsys, tmp_path / "bad.json", body)
    assert code == 2 and result["status"] == "invalid" and message in result["error"], result
    if isinstance(body, list):
        assert [p.split(" ")[0] for p in result["problems"]] == ["#0", "#1"]
    assert not (media.parent / "outputs").exists()
