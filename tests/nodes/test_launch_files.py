"""The launch files as a ROS user meets them, and the same files through `vjepa2 bringup`.

Built with the real launch / launch_ros when importable, else with the stand-ins of
tests/nodes/launch_api.py (same attribute names): arguments with descriptions and
choices, package-share defaults, IfCondition, the shutdown rule per required node, the
standard parameters files, and that `vjepa2 bringup` reads the same files.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types

import pytest
import yaml

from vjepa2_planner_node import bringup

from .launch_api import REPO, load_launch_description

NAMES = ["pick_place", "reach"]


def _pred(cond):  # noqa: ANN001, ANN202
    p = getattr(cond, "predicate", None) or cond._IfCondition__predicate_expression
    p = p[0] if isinstance(p, list) else p
    return p.variable_name if hasattr(p, "variable_name") else p.variable_name[0].text


def _target(rule):  # noqa: ANN001, ANN202
    h = rule.event_handler
    return getattr(h, "target_action", None) or h._OnActionEventBase__target_action


def _on_exit(rule):  # noqa: ANN001, ANN202
    h = rule.event_handler
    return getattr(h, "on_exit", None) or h._OnActionEventBase__actions_on_event


def _nodes(entities):  # noqa: ANN001, ANN202
    group = next(e for e in entities if type(e).__name__ == "GroupAction")
    acts = getattr(group, "actions", None) or group.get_sub_entities()
    return [a for a in acts if type(a).__name__ == "Node"]


def _exe(node):  # noqa: ANN001, ANN202
    return getattr(node, "executable", None) or node.node_executable


@pytest.mark.parametrize("name", NAMES)
def test_launch_arguments_have_descriptions_choices_and_share_defaults(name,
                                                                      monkeypatch) -> None:
    entities, _real = load_launch_description(name, monkeypatch)
    args = {e.name: e for e in entities if type(e).__name__ == "DeclareLaunchArgument"}
    assert set(bringup.LAUNCH_ARGUMENTS) <= set(args)
    for a in args.values():
        assert a.description and a.description not in ("no description given", a.name), a.name
    assert args["use_sim"].choices == ["true", "false"] == args["rviz"].choices
    assert args["preset"].choices == ["cpu", "reference", "paper"]
    for path_arg in ("checkpoint", "goals_dir", "params_file"):
        default = args[path_arg].default_value
        text = repr(default) + repr(getattr(default, "args", ""))
        assert "FindPackageShare" in text or "vjepa2" in str(
            [getattr(s, "describe", lambda: "")() for s in default]), (path_arg, text)


@pytest.mark.parametrize("name", NAMES)
def test_launch_conditions_and_shutdown_rule(name, monkeypatch) -> None:
    entities, _real = load_launch_description(name, monkeypatch)
    kinds = [type(e).__name__ for e in entities]
    # argument + rviz check first, rules registered before the nodes are started
    check = kinds.index("OpaqueFunction")
    assert check < kinds.index("RegisterEventHandler") < kinds.index("GroupAction")
    assert kinds[-1] == "GroupAction"
    nodes = {_exe(n): n for n in _nodes(entities)}
    assert set(nodes) == {"sim_cell", "franka_bridge", "planner_node", "goal_selector", "rviz2",
                          "foxglove_bridge"}
    assert _pred(nodes["sim_cell"].condition) == "use_sim"
    assert _pred(nodes["rviz2"].condition) == "rviz"
    assert _pred(nodes["foxglove_bridge"].condition) == "foxglove"
    assert nodes["planner_node"].condition is None
    rules = [e for e in entities if type(e).__name__ == "RegisterEventHandler"]
    targets = {_exe(_target(r)) for r in rules}
    assert targets == {"sim_cell", "franka_bridge", "planner_node", "goal_selector"}
    for r in rules:
        assert type(r.event_handler).__name__ == "OnProcessExit"
        events = [a.event for a in _on_exit(r) if type(a).__name__ == "EmitEvent"]
        assert [type(e).__name__ for e in events] == ["Shutdown"]


@pytest.mark.parametrize("name", NAMES)
def test_parameters_files_are_standard_and_shared_by_both_paths(name, tmp_path) -> None:
    b = bringup.load_bringup(name)
    params_path = bringup.share_dir() / "config" / f"{name}.params.yaml"
    data = yaml.safe_load(params_path.read_text())
    nodes = {"sim_cell", "franka_bridge", "world_model", "planner", "goal_selector"}
    assert {k.removeprefix("/**/") for k in data} == nodes
    for v in data.values():
        assert set(v) == {"ros__parameters"} and isinstance(v["ros__parameters"], dict)
    ckpt = tmp_path / "ck"
    ckpt.mkdir()
    specs = bringup.resolve(b, {"checkpoint": str(ckpt), "hold_margin": "-1", "namespace": "r1"})
    for s in specs:
        if s.pip:
            cmd = bringup.command(s)
            i = cmd.index("--params-file")
            assert cmd[i + 1] == str(params_path)
            assert cmd[cmd.index("-r") + 1] == "__ns:=/r1"
    planner = next(s for s in specs if s.name == "planner_node")
    assert planner.parameters["hold_margin"] == -1.0  # a double, as the node declares it
    assert f'checkpoint:="{ckpt}"' in bringup.command(planner)
    bridge = next(s for s in specs if s.name == "franka_bridge")
    assert bridge.arguments == ["--wait-for-sim", "true"]
    sim = next(s for s in specs if s.name == "sim_cell")
    assert sim.parameters["scene_file"].endswith(f"goals/{name}/scene.yaml")
    assert (bringup.share_dir() / "goals" / name / "scene.yaml").is_file()
    off = bringup.resolve(b, {"checkpoint": str(ckpt), "use_sim": "false"})
    assert "sim_cell" not in [s.name for s in off]
    assert next(s for s in off if s.name == "franka_bridge").arguments[1] == "false"


def test_launch_check_validates_before_starting(monkeypatch, tmp_path) -> None:
    """The first action runs the bringup's validation: a bad value raises, naming it."""
    entities, real = load_launch_description("pick_place", monkeypatch)
    if real:
        pytest.skip("the real LaunchService path is covered by `ros2 launch` itself")
    check = next(e for e in entities if type(e).__name__ == "OpaqueFunction")
    args = {e.name: e for e in entities if type(e).__name__ == "DeclareLaunchArgument"}
    values = {k: str(bringup.argument_values(bringup.load_bringup("pick_place"))[k])
              for k in args}
    values.update(rviz="false", use_sim="true", hold_margin="0.0", gripper_margin="0.002")
    check.kwargs["function"](types.SimpleNamespace(values=values))  # defaults: fine
    with pytest.raises(ValueError, match="parameter 'device'"):
        check.kwargs["function"](types.SimpleNamespace(values={**values, "device": "tpu"}))


def test_defaults_do_not_depend_on_the_current_directory(tmp_path) -> None:
    r = subprocess.run([sys.executable, "-m", "vjepa2_planner_node.bringup", "reach", "--print"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr
    assert f"checkpoint:=\"{REPO}/weights/sim_tiny\"" in r.stdout
    assert f"goals_dir:=\"{REPO}/goals/reach\"" in r.stdout
    assert not (tmp_path / "goals").exists()
    show = subprocess.run([sys.executable, "-m", "vjepa2_planner_node.bringup", "reach",
                           "--show-args"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert "no description given" not in show.stdout and "choices: true, false" in show.stdout
