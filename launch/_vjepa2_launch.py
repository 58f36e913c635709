"""Shared body of the vjepa2 launch files (standard launch / launch_ros API).

What it builds from config/NAME.yaml (the file `vjepa2 bringup NAME` reads too):

- one ``DeclareLaunchArgument`` per argument, with its description and choices
  (``ros2 launch vjepa2 NAME.launch.py --show-args``); defaults under ``${share}`` are
  ``FindPackageShare('vjepa2')`` paths, so they never depend on the current directory;
- a check of all argument values (the bringup's own validation) and, when ``rviz:=true``,
  of the rviz2 package, both BEFORE any process starts: a bad value or a missing rviz2
  stops the launch with a message and nothing running;
- one ``launch_ros`` ``Node`` per process, under ``PushRosNamespace(namespace)``, with
  ``IfCondition`` for ``if:``, parameters = the standard parameters file ``params_file``
  plus the values the arguments set;
- per required process an ``OnProcessExit`` rule: its exit shuts the launch down; a node
  that fails (bad checkpoint, no GPU, a simulator crash) also makes `ros2 launch` exit
  with code 1, as `vjepa2 bringup` does.

Include it from your own launch file with ``IncludeLaunchDescription`` and remap with
``SetRemap`` / ``PushRosNamespace`` around it, as for any launch file.
"""

# ruff: noqa: I001  (launch/ here is the ROS launch package, not this directory)
from __future__ import annotations

from typing import Any

from launch import LaunchContext, LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    GroupAction,
    LogInfo,
    OpaqueFunction,
    RegisterEventHandler,
)
from launch.conditions import IfCondition, UnlessCondition
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from vjepa2_planner_node.bringup import PACKAGE, _SUB, Bringup, load_bringup, resolve


def _config_dir() -> str | None:
    try:
        import os

        from ament_index_python.packages import get_package_share_directory

        d = os.path.join(get_package_share_directory(PACKAGE), "config")
        return d if os.path.isdir(d) else None
    except Exception:
        return None


def substitution(value: Any) -> Any:
    """A YAML value with ``${arg}`` / ``${share}`` as launch substitutions."""
    if not isinstance(value, str) or not _SUB.search(value):
        return (
            value
            if isinstance(value, str)
            else str(value).lower()
            if isinstance(value, bool)
            else str(value)
        )
    parts: list[Any] = []
    pos = 0
    for m in _SUB.finditer(value):
        if m.start() > pos:
            parts.append(value[pos : m.start()])
        name = m.group(1)
        parts.append(FindPackageShare(PACKAGE) if name == "share" else LaunchConfiguration(name))
        pos = m.end()
    if pos < len(value):
        parts.append(value[pos:])
    if isinstance(parts[0], FindPackageShare) and len(parts) > 1:
        # ${share}/a/b -> PathJoinSubstitution([FindPackageShare, 'a/b'])
        return PathJoinSubstitution(
            [parts[0], *[p.lstrip("/") if isinstance(p, str) else p for p in parts[1:]]]
        )
    return parts


def _check_arguments(bringup: Bringup) -> OpaqueFunction:
    def check(context: LaunchContext) -> list:
        values = {k: LaunchConfiguration(k).perform(context) for k in bringup.specs}
        resolve(bringup, values)  # raises naming the bad argument; nothing has started yet
        if values.get("rviz", "false").lower() in ("true", "1"):
            from ament_index_python.packages import (
                PackageNotFoundError,
                get_package_share_directory,
            )

            try:
                get_package_share_directory("rviz2")
            except PackageNotFoundError:
                raise RuntimeError(
                    "rviz:=true but the rviz2 package is not installed (apt install "
                    "ros-$ROS_DISTRO-rviz2); nothing was started. Run without rviz:=true or "
                    "install RViz2."
                ) from None
        return []

    return OpaqueFunction(function=check)


def _node(bringup: Bringup, proc: dict[str, Any]) -> Node:
    types = {k: s.type for k, s in bringup.specs.items()}
    params: list[Any] = []
    if proc.get("pip", True):
        params.append(LaunchConfiguration("params_file"))
        bound = {}
        for key, value in (proc.get("parameters") or {}).items():
            m = _SUB.fullmatch(value) if isinstance(value, str) else None
            kind = {"float": float, "int": int, "bool": bool}.get(
                types.get(m.group(1), "str") if m else "str", str
            )
            bound[key] = ParameterValue(substitution(value), value_type=kind)
        if bound:
            params.append(bound)
    condition = None
    if "if" in proc:
        condition = IfCondition(LaunchConfiguration(proc["if"]))
    elif "unless" in proc:
        condition = UnlessCondition(LaunchConfiguration(proc["unless"]))
    return Node(
        package=proc.get("package", PACKAGE),
        executable=proc.get("executable", proc["name"]),
        parameters=params or None,
        arguments=[substitution(a) for a in proc.get("arguments") or []],
        condition=condition,
        output="screen",
        emulate_tty=True,
    )


def required_exit_actions(name: str, returncode: int | None, shutting_down: bool) -> list:
    """What the launch does when required process ``name`` exits.

    A failure (non-zero exit code) outside a shutdown raises: launch logs the message,
    stops every other process and `ros2 launch` exits with code 1, as `vjepa2 bringup`
    does. Otherwise (a clean exit, or one during the shutdown) a ``Shutdown`` event."""
    if returncode not in (0, None) and not shutting_down:
        raise RuntimeError(
            f"required process {name} exited with code {returncode}: stopped the vjepa2 stack"
        )
    reason = f"required process {name} exited: stopping the vjepa2 stack"
    return [LogInfo(msg=reason), EmitEvent(event=Shutdown(reason=reason))]


def _shutdown_on_exit(name: str, node: Node) -> RegisterEventHandler:
    def on_exit(event: Any, context: LaunchContext) -> list:
        return required_exit_actions(
            name, getattr(event, "returncode", None), bool(getattr(context, "is_shutdown", False))
        )

    return RegisterEventHandler(OnProcessExit(target_action=node, on_exit=on_exit))


def generate(name: str) -> LaunchDescription:
    """The launch description of bringup ``name`` (config/NAME.yaml)."""
    from pathlib import Path

    cfg = _config_dir()
    bringup = load_bringup(name, Path(cfg) if cfg else None)
    declared = [
        DeclareLaunchArgument(
            k,
            default_value=substitution(s.default_text()),
            description=s.description or k,
            **({"choices": s.choices} if s.choices else {}),
        )
        for k, s in bringup.specs.items()
    ]
    nodes, rules = [], []
    for proc in bringup.processes:
        node = _node(bringup, proc)
        nodes.append(node)
        if proc.get("required", True):
            rules.append(_shutdown_on_exit(proc["name"], node))
    group = GroupAction([PushRosNamespace(LaunchConfiguration("namespace")), *nodes])
    return LaunchDescription([*declared, _check_arguments(bringup), *rules, group])
