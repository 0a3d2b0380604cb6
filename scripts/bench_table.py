"""The README's benchmark table, generated from ``benchmarks/results/*.json``.

Each row: the script, what it measures (the first line of the script's docstring), the
headline ``ratio`` and every other target the result records (``targets``: key -> minimum,
or ``{"max": x}`` where lower is better; the measured value is the result's top-level key
of the same name), each marked met or missed. ``python scripts/bench_table.py`` rewrites
the table between the markers in README.md; ``--check`` exits 1 when README.md is stale
(the test suite runs it).
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"


def _number(x: float) -> str:
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}" if abs(x) < 10 else f"{x:.1f}"


def _what(script: Path) -> str:
    doc = ast.get_docstring(ast.parse(script.read_text())) if script.is_file() else None
    return (doc or "").strip().splitlines()[0].rstrip(".:") if doc else ""


def _targets(result: dict[str, Any]) -> list[str]:
    """``targets``: key -> minimum (a number) or ``{"max": x}`` (lower is better)."""
    cells = []
    for key, target in (result.get("targets") or {}).items():
        value = result.get(key)
        if not isinstance(value, int | float):
            continue
        if isinstance(target, dict) and isinstance(target.get("max"), int | float):
            bound, met = f"≤ {_number(target['max'])}", value <= target["max"]
        elif isinstance(target, int | float):
            bound, met = f"≥ {_number(target)}", value >= target
        else:
            continue
        cells.append(f"{key} {_number(value)} ({bound}) {'✓' if met else '✗'}")
    return cells


def rows(results_dir: Path = ROOT / "benchmarks" / "results") -> list[str]:
    out = []
    for path in sorted(results_dir.glob("*.json")):
        result = json.loads(path.read_text())
        script = ROOT / "benchmarks" / f"{path.stem}.py"
        ratio = result.get("ratio")
        headline = f"**{_number(ratio)}×**" if isinstance(ratio, int | float) else "—"
        targets = "; ".join(_targets(result)) or "—"
        out.append(f"| `benchmarks/{script.name}` | {_what(script)} | {headline} | {targets} |")
    return out


def table() -> str:
    head = "| script | what | headline ratio | targets (measured, target, met) |\n"
    head += "| --- | --- | --- | --- |\n"
    return head + "\n".join(rows()) + "\n"


def render(readme: str) -> str:
    """``readme`` with the table between the markers replaced."""
    before, found, rest = readme.partition(START)
    if not found or END not in rest:
        raise SystemExit(f"README.md lacks the markers {START} … {END}")
    _, _, after = rest.partition(END)
    return f"{before}{START}\n{table()}{END}{after}"


def main(argv: list[str]) -> int:
    readme = ROOT / "README.md"
    current = readme.read_text()
    wanted = render(current)
    if "--check" in argv:
        if wanted != current:
            print("README.md's benchmark table is stale: run python scripts/bench_table.py")
            return 1
        return 0
    readme.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
