#!/usr/bin/env bash
# Build ros2_ws/src/vjepa2_interfaces with colcon on a pip-only machine and install it
# straight into the venv prefix (.venv), so `ensure_ros_env()` (AMENT_PREFIX_PATH = venv)
# is all a process needs: libs land in .venv/lib (on the wheels' LD_LIBRARY_PATH), Python
# modules in .venv/lib/python3.11/site-packages, the ament index in .venv/share.
#
# The pip ROS wheels' *Export.cmake files hard-code the wheel builder's include dirs
# (/opt/python/cp311-cp311/include/python3.11 and its numpy include dir); they are
# rewritten to this machine's Python/numpy include dirs first.
#
# Idempotent: skips everything when the interface sources and the venv are unchanged
# (stamp in .venv), else an incremental colcon build (~10 s cold on 2 cores).
# On a ROS install (docker, lab PC) use plain `colcon build` in ros2_ws instead.
# Env: VENV (default <repo>/.venv), FORCE=1 to rebuild.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$root/.venv}"
PY="$VENV/bin/python"
ws="$root/ros2_ws"
pkg="$ws/src/vjepa2_interfaces"
[ -x "$PY" ] || { echo "build_interfaces: no venv python at $PY" >&2; exit 1; }

stamp="$VENV/.vjepa2-interfaces-stamp"
want="$( (cd "$pkg" && find . -type f \( -name '*.msg' -o -name '*.srv' -o -name '*.action' \
  -o -name CMakeLists.txt -o -name package.xml \) | sort | xargs sha256sum; echo "$VENV") \
  | sha256sum | cut -d' ' -f1)"
if [ "${FORCE:-0}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
   && "$PY" -c "import vjepa2_interfaces.msg, vjepa2_interfaces.action, vjepa2_interfaces.srv" \
      2>/dev/null; then
  echo "[build_interfaces] up to date"
  exit 0
fi

for tool in cmake make g++; do
  command -v "$tool" >/dev/null || { echo "build_interfaces: '$tool' not found (apt-get install cmake g++)" >&2; exit 1; }
done
[ -x "$VENV/bin/colcon" ] || { echo "build_interfaces: colcon missing: pip install -e '.[dev]'" >&2; exit 1; }

# 1. Point the wheels' Export.cmake include dirs at this machine's Python and numpy.
py_inc="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
np_inc="$("$PY" -c 'import numpy; print(numpy.get_include())')"
mapfile -t exports < <(grep -rl --include='*Export.cmake' '/opt/python/cp311-cp311/' "$VENV/share" || true)
if [ "${#exports[@]}" -gt 0 ]; then
  echo "[build_interfaces] fixing include dirs in ${#exports[@]} Export.cmake files"
  sed -i \
    -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#${np_inc}#g" \
    -e "s#/opt/python/cp311-cp311/include/python3.11#${py_inc}#g" \
    "${exports[@]}"
fi

# 2. colcon build, merged install into the venv prefix.
cd "$ws"
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export PATH="$VENV/bin:$PATH"
export _ROS_WHEELS_BOOTSTRAP_COMPLETE=  # let the venv python re-exec with its LD path
start=$(date +%s)
"$VENV/bin/colcon" --log-base "$ws/log" build \
  --base-paths "$ws/src" --packages-select vjepa2_interfaces \
  --build-base "$ws/build" --install-base "$VENV" --merge-install \
  --event-handlers console_direct- \
  --cmake-args -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release
"$PY" -c "
from vjepa2_planner_node.ros_env import ensure_ros_env; ensure_ros_env()
import vjepa2_interfaces.msg, vjepa2_interfaces.srv, vjepa2_interfaces.action"
echo "$want" > "$stamp"
echo "[build_interfaces] built vjepa2_interfaces into $VENV in $(( $(date +%s) - start )) s"
