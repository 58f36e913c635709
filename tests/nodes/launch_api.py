"""The launch files' description objects: the real launch / launch_ros when importable,
else small stand-ins of the same names that record what the launch file builds.

The stand-ins keep the real API's attribute names for what the tests read
(``DeclareLaunchArgument.name/description/choices/default_value``, ``Node.condition``,
``IfCondition``'s predicate, ``OnProcessExit``'s target and actions), so one test body
checks either. The PyPI package named ``launch`` is unrelated: never install it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def real_launch_available() -> bool:
    """True if the ROS launch and launch_ros packages import (a sourced ROS install, or
    them built from source onto PYTHONPATH). VJEPA2_REAL_LAUNCH=1 makes their absence
    an error instead of a fallback to the stand-ins (for a check on a ROS machine)."""
    try:
        import launch.actions  # noqa: F401
        import launch_ros.actions  # noqa: F401
    except ImportError as exc:
        if os.environ.get("VJEPA2_REAL_LAUNCH") == "1":
            raise RuntimeError(
                f"VJEPA2_REAL_LAUNCH=1 but the launch API does not import: {exc}"
            ) from exc
        return False
    return hasattr(sys.modules["launch.actions"], "DeclareLaunchArgument")


class _Rec:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs


class DeclareLaunchArgument(_Rec):
    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.name = name
        self.description = kwargs.get("description", "no description given")
        self.choices = kwargs.get("choices")
        self.default_value = kwargs.get("default_value")


class Node(_Rec):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.condition = kwargs.get("condition")
        self.package, self.executable = kwargs["package"], kwargs["executable"]
        self.parameters = kwargs.get("parameters") or []


class _Cond(_Rec):
    def __init__(self, predicate: Any) -> None:
        super().__init__(predicate)
        self.predicate = predicate


class IfCondition(_Cond):
    pass


class UnlessCondition(_Cond):
    pass


class OnProcessExit(_Rec):
    def __init__(self, *, target_action: Any, on_exit: Any) -> None:
        super().__init__(target_action=target_action, on_exit=on_exit)
        self.target_action, self.on_exit = target_action, on_exit


class RegisterEventHandler(_Rec):
    def __init__(self, event_handler: Any) -> None:
        super().__init__(event_handler)
        self.event_handler = event_handler


class EmitEvent(_Rec):
    def __init__(self, *, event: Any) -> None:
        super().__init__(event=event)
        self.event = event


class LaunchConfiguration(_Rec):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.variable_name = name

    def perform(self, context: Any) -> str:
        return context.values[self.variable_name]


class FindPackageShare(_Rec):
    def __init__(self, package: str) -> None:
        super().__init__(package)
        self.package = package


class GroupAction(_Rec):
    def __init__(self, actions: list) -> None:
        super().__init__(actions)
        self.actions = actions


def _module(name: str, **attrs: Any) -> types.ModuleType:
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    return m


STANDINS = {
    "launch": _module("launch", LaunchContext=object, LaunchDescription=list),
    "launch.actions": _module(
        "launch.actions",
        DeclareLaunchArgument=DeclareLaunchArgument,
        EmitEvent=EmitEvent,
        GroupAction=GroupAction,
        LogInfo=type("LogInfo", (_Rec,), {}),
        OpaqueFunction=type("OpaqueFunction", (_Rec,), {}),
        RegisterEventHandler=RegisterEventHandler,
    ),
    "launch.conditions": _module(
        "launch.conditions", IfCondition=IfCondition, UnlessCondition=UnlessCondition
    ),
    "launch.event_handlers": _module("launch.event_handlers", OnProcessExit=OnProcessExit),
    "launch.events": _module("launch.events", Shutdown=type("Shutdown", (_Rec,), {})),
    "launch.substitutions": _module(
        "launch.substitutions",
        LaunchConfiguration=LaunchConfiguration,
        PathJoinSubstitution=type("PathJoinSubstitution", (_Rec,), {}),
    ),
    "launch_ros": _module("launch_ros"),
    "launch_ros.actions": _module(
        "launch_ros.actions", Node=Node, PushRosNamespace=type("PushRosNamespace", (_Rec,), {})
    ),
    "launch_ros.parameter_descriptions": _module(
        "launch_ros.parameter_descriptions", ParameterValue=type("ParameterValue", (_Rec,), {})
    ),
    "launch_ros.substitutions": _module(
        "launch_ros.substitutions", FindPackageShare=FindPackageShare
    ),
}


def load_launch_description(name: str, monkeypatch: Any) -> tuple[list, bool]:
    """(entities of launch/NAME.launch.py's description, whether the real API built it)."""
    real = real_launch_available()
    if not real:
        for k, v in STANDINS.items():
            monkeypatch.setitem(sys.modules, k, v)
    monkeypatch.delitem(sys.modules, "_vjepa2_launch", raising=False)
    path = REPO / "launch" / f"{name}.launch.py"
    spec = importlib.util.spec_from_file_location(f"{name}_launch", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ld = mod.generate_launch_description()
    return (list(ld.entities) if real else list(ld)), real
