"""Make rclpy and the vjepa2_interfaces messages usable from the pip ROS wheels.

The ROS 2 wheels (`ros-rclpy`, `ros-common-interfaces`, ...) install their
shared libraries into ``<venv>/lib`` and their ament resource index into
``<venv>/share``; ``ros_wheels_bootstrapper`` re-executes every venv Python
with ``LD_LIBRARY_PATH`` covering ``<venv>/lib``.  Only ``AMENT_PREFIX_PATH``
is left unset, which breaks ``ament_index_python`` (and so rclpy's type
support lookups for anything but the core messages).

``scripts/build_interfaces.sh`` builds ``ros2_ws/src/vjepa2_interfaces`` and
installs it straight into the venv prefix, so after ``ensure_ros_env()`` the
custom interfaces need no extra paths either.  On a ROS install (sourced
``setup.bash``) the environment is already right and this is a no-op apart
from adding a locally built ``ros2_ws/install`` if one exists.

Call ``ensure_ros_env()`` before ``import rclpy``; it is idempotent and
cheap, and what it sets in ``os.environ`` is inherited by child processes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
WS_INSTALL = REPO_ROOT / "ros2_ws" / "install"
INTERFACES_PKG = "vjepa2_interfaces"


def _split(value: str | None) -> list[str]:
    return [p for p in (value or "").split(os.pathsep) if p]


def _prepend_env(name: str, paths: list[str]) -> None:
    """Prepend ``paths`` (in order) to the path-list env var ``name``, no duplicates."""
    current = _split(os.environ.get(name))
    new = [p for p in paths if p not in current]
    if new:
        os.environ[name] = os.pathsep.join(new + current)


def venv_prefix() -> Path | None:
    """The Python prefix holding the pip ROS wheels, or None if this is not one."""
    prefix = Path(sys.prefix)
    if (prefix / "share" / "ament_index" / "resource_index").is_dir():
        return prefix
    return None


def workspace_prefixes() -> list[Path]:
    """Package prefixes of a colcon build into ``ros2_ws/install`` (isolated or merged)."""
    if not WS_INSTALL.is_dir():
        return []
    if (WS_INSTALL / "share" / "ament_index").is_dir():  # --merge-install
        return [WS_INSTALL]
    return sorted(p for p in WS_INSTALL.iterdir() if (p / "share" / "ament_index").is_dir())


def ensure_ros_env() -> None:
    """Set ``AMENT_PREFIX_PATH`` (and ``sys.path`` for a workspace build) for rclpy.

    Must run before ``import rclpy`` in the process.  Safe to call many times.
    """
    prefixes: list[str] = []
    for ws in workspace_prefixes():
        prefixes.append(str(ws))
        pyver = f"python{sys.version_info.major}.{sys.version_info.minor}"
        site = ws / "lib" / pyver / "site-packages"
        if site.is_dir() and str(site) not in sys.path:
            sys.path.insert(0, str(site))
            _prepend_env("PYTHONPATH", [str(site)])
        lib = ws / "lib"
        if lib.is_dir():
            # Only helps child processes (the dynamic loader reads it at start).
            _prepend_env("LD_LIBRARY_PATH", [str(lib)])
    venv = venv_prefix()
    if venv is not None:
        prefixes.append(str(venv))
    _prepend_env("AMENT_PREFIX_PATH", prefixes)
    # Keep ROS logs out of $HOME on shared machines unless the user chose a place.
    os.environ.setdefault("RCUTILS_COLORIZED_OUTPUT", "0")


def interfaces_available() -> bool:
    """True if ``vjepa2_interfaces`` messages import (after ``ensure_ros_env``)."""
    ensure_ros_env()
    try:
        import vjepa2_interfaces.msg  # noqa: F401
    except ImportError:
        return False
    return True


def require_interfaces() -> None:
    """Raise a RuntimeError explaining how to build the interfaces if they are missing."""
    if not interfaces_available():
        raise RuntimeError(
            "vjepa2_interfaces is not built/installed: run scripts/build_interfaces.sh "
            "(pip-only machine) or `colcon build` in ros2_ws and source install/setup.bash"
        )
