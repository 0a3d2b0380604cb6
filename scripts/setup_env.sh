#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install adcluster with the given extras. Idempotent.
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
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
spec="."
[ -n "$EXTRAS" ] && spec=".[${EXTRAS}]"
.venv/bin/python -m pip install -q -e "$spec"
