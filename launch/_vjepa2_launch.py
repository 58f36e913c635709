"""Shared body of the vjepa2 launch files (standard launch / launch_ros API).

The node processes and their parameters come from config/NAME.yaml through
vjepa2_planner_node.bringup, exactly as `vjepa2 bringup NAME` reads them.
"""

# ruff: noqa: I001  (launch/ here is the ROS launch package, not this directory)
from __future__ import annotations

import os
import tempfile

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from vjepa2_planner_node.bringup import load_bringup, resolve, write_params_file


def _config_dir() -> str | None:
    try:
        from ament_index_python.packages import get_package_share_directory

        d = os.path.join(get_package_share_directory("vjepa2"), "config")
        return d if os.path.isdir(d) else None
    except Exception:  # noqa: BLE001  (package not installed: use the repo's config/)
        return None


def generate(name: str) -> LaunchDescription:
    from pathlib import Path

    cfg = _config_dir()
    bringup = load_bringup(name, Path(cfg) if cfg else None)

    def nodes(context: LaunchContext) -> list[Node]:
        values = {k: LaunchConfiguration(k).perform(context) for k in bringup.arguments}
        tmp = tempfile.mkdtemp(prefix=f"vjepa2_{name}_")
        actions = []
        for spec in resolve(bringup, values):
            params = [str(write_params_file(spec, tmp))] if spec.parameters else []
            actions.append(Node(package=spec.package, executable=spec.executable,
                                parameters=params, arguments=spec.arguments,
                                output="screen", emulate_tty=True))
        return actions

    declared = [DeclareLaunchArgument(k, default_value=str(v).lower()
                                      if isinstance(v, bool) else str(v))
                for k, v in bringup.arguments.items()]
    return LaunchDescription([*declared, OpaqueFunction(function=nodes)])
