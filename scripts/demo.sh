#!/usr/bin/env bash
# The main job: set up .venv, then run the demo campaign (local Ray, SQLite, synthetic traffic).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/adcluster demo "$@"
