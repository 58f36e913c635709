#!/usr/bin/env bash
# The project's main job (README): the simulated pick-and-place demo with the shipped weights.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh
export MUJOCO_GL="${MUJOCO_GL:-egl}"
exec .venv/bin/vjepa2 demo "$@"
