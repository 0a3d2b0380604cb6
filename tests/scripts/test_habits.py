"""The repository's habits: imports only point down; the README's benchmark table is generated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import bench_table  # noqa: E402
import check_layers  # noqa: E402


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_this_repository_keeps_its_layers() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_layers.py")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout
    assert "layers: ok" in result.stdout


@pytest.mark.parametrize(
    ("rel", "text", "message"),
    [
        ("core/db/x.py", "from actors import catalogue\n", "core (layer 0) imports actors"),
        ("actors/x.py", "def f():\n    import cluster.cli\n", "actors (layer 1) imports cluster"),
        ("core/video/x.py", "import ray\n", "core/video must not import ray"),
        ("core/domain/x.py", "from sqlalchemy import select\n", "must not import sqlalchemy"),
        ("core/domain/x.py", "import fastapi.routing\n", "must not import fastapi"),
    ],
)
def test_an_upward_import_is_reported(tmp_path: Path, rel: str, text: str, message: str) -> None:
    write(tmp_path, rel, text)
    write(tmp_path, "cluster/ok.py", "from core import settings\nimport ray\n")
    found = check_layers.violations(tmp_path)
    assert len(found) == 1 and message in found[0] and found[0].startswith(f"{rel}:")


def test_readme_benchmark_table_is_generated_from_results() -> None:
    readme = (ROOT / "README.md").read_text()
    assert bench_table.render(readme) == readme, "run: python scripts/bench_table.py"
    for path in (ROOT / "benchmarks" / "results").glob("*.json"):
        assert f"`benchmarks/{path.stem}.py`" in readme


def test_table_marks_targets_met_and_missed() -> None:
    targets = {"ratio": 0.8, "x": 4, "p99": {"max": 2}}
    result = {"ratio": 0.7, "x": 5.0, "p99": 3, "targets": targets}
    cells = bench_table._targets(result)
    assert cells == ["ratio 0.7 (≥ 0.8) ✗", "x 5 (≥ 4) ✓", "p99 3 (≤ 2) ✗"]
