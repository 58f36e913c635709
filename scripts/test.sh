#!/usr/bin/env bash
# The project's test command (README, .ci/run): set up everything, lint, run the suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh
export MUJOCO_GL="${MUJOCO_GL:-egl}"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest -q "$@"
