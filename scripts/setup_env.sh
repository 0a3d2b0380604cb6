#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install adcluster with the given extras. Idempotent:
# skips the install when pyproject.toml and the extras are unchanged since the last one.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-}"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3.12 python3.13 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      PY="$cand"; break
    fi
  done
fi
[ -n "$PY" ] || { echo "error: Python >= 3.11 is required" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=".venv/.adcluster-install"
want="$(sha256sum pyproject.toml | cut -c1-64) extras=${EXTRAS}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
spec="."
[ -n "$EXTRAS" ] && spec=".[${EXTRAS}]"
echo "installing adcluster${EXTRAS:+ with [$EXTRAS]} into .venv (log: .venv/install.log) ..."
if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -e "$spec"; } >.venv/install.log 2>&1; then
  tail -n 40 .venv/install.log >&2
  echo "error: installation failed (full log: .venv/install.log)" >&2
  exit 1
fi
echo "$want" >"$stamp"
