"""Fail when an import points up a layer (run by scripts/test.sh).

Layers, lowest first: ``core`` (no Ray) < ``actors``, ``serve_apps``, ``training`` (thin Ray
shells) < ``cluster``. A module may import its own layer and the ones below. ``core`` imports
no Ray, and ``core/domain`` no Ray, SQLAlchemy, FastAPI or Starlette either. Imports inside
functions count too.

Usage: ``python scripts/check_layers.py [ROOT]``; prints each violation, exits 1 if any.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

LAYERS = {"core": 0, "actors": 1, "serve_apps": 1, "training": 1, "cluster": 2}
FORBIDDEN = {
    "core": ("ray",),
    "core/domain": ("ray", "sqlalchemy", "fastapi", "starlette"),
}


def imported(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def violations(root: Path) -> list[str]:
    found: list[str] = []
    for package, rank in LAYERS.items():
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            banned = [
                lib
                for prefix, libs in FORBIDDEN.items()
                if rel.startswith(prefix + "/")
                for lib in libs
            ]
            for line, module in imported(ast.parse(path.read_text(), rel)):
                top = module.split(".")[0]
                if top in LAYERS and LAYERS[top] > rank:
                    found.append(
                        f"{rel}:{line}: {package} (layer {rank}) imports {module} "
                        f"(layer {LAYERS[top]}): imports only point down"
                    )
                if top in banned:
                    found.append(f"{rel}:{line}: {rel.rsplit('/', 1)[0]} must not import {top}")
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    found = violations(root)
    for line in found:
        print(line)
    print(f"layers: {len(found)} violation(s)" if found else "layers: ok")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
