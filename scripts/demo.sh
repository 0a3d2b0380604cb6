#!/usr/bin/env bash
# The main job: set up .venv, then run the demo campaign (local Ray, SQLite, the market
# simulator) and write its HTML report (docs/demo.md). Flags go to `adcluster demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/adcluster demo "$@"
