#!/usr/bin/env bash
# Create/refresh the project venv (.venv) and build the ROS interfaces. Idempotent:
# re-installs only when pyproject.toml changed, re-builds interfaces only when needed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[bootstrap] creating .venv with $($PY --version)"
  "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
stamp=".venv/.vjepa2-install-stamp"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[bootstrap] installing dependencies (torch==2.13.0 CPU wheel, ROS 2 from PyPI, franky-sim...)"
  # torch first and pinned, so nothing can resolve a CUDA build.
  .venv/bin/pip install -q "torch==2.13.0"
  .venv/bin/pip install -q -e ".[pip-ros,dev]"
  echo "$want" > "$stamp"
fi
if [ -x scripts/build_interfaces.sh ]; then
  scripts/build_interfaces.sh
fi
