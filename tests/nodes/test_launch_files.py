"""The launch files as a ROS user meets them, and the same files through `vjepa2 bringup`.

Built with the real launch / launch_ros when importable (PYTHONPATH with launch, launch_ros
built from source: README "ROS 2 install"), else with the stand-ins of
tests/nodes/launch_api.py (same attribute names): arguments with descriptions and
choices, package-share defaults, IfCondition, the shutdown rule per required node, the
standard parameters files, and that `vjepa2 bringup` reads the same files. With the real
API the argument checks and the shutdown rule also run through launch's LaunchService.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import types

import pytest
import yaml

from vjepa2_planner_node import bringup

from .launch_api import REPO, load_launch_description

NAMES = ["pick_place", "reach"]


def _pred(cond):
    p = getattr(cond, "predicate", None) or cond._IfCondition__predicate_expression
    p = p[0] if isinstance(p, list) else p
    v = p.variable_name  # the real LaunchConfiguration: a list of TextSubstitution
    return v if isinstance(v, str) else "".join(t.text for t in v)


def _target(rule):
    h = rule.event_handler
    return getattr(h, "target_action", None) or h._OnActionEventBase__action_matcher


def _on_exit(rule):
    """The rule's on_exit callable (event, context) -> actions."""
    h = rule.event_handler
    return getattr(h, "on_exit", None) or h._OnActionEventBase__on_event


def _nodes(entities):
    group = next(e for e in entities if type(e).__name__ == "GroupAction")
    acts = getattr(group, "actions", None) or group.get_sub_entities()
    return [a for a in acts if type(a).__name__ == "Node"]


def _exe(node):
    return getattr(node, "executable", None) or node.node_executable


@pytest.mark.parametrize("name", NAMES)
def test_launch_arguments_have_descriptions_choices_and_share_defaults(name, monkeypatch) -> None:
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
            [getattr(s, "describe", lambda: "")() for s in default]
        ), (path_arg, text)


@pytest.mark.parametrize("name", NAMES)
def test_launch_conditions_and_shutdown_rule(name, monkeypatch) -> None:
    entities, _real = load_launch_description(name, monkeypatch)
    kinds = [type(e).__name__ for e in entities]
    # argument + rviz check first, rules registered before the nodes are started
    check = kinds.index("OpaqueFunction")
    assert check < kinds.index("RegisterEventHandler") < kinds.index("GroupAction")
    assert kinds[-1] == "GroupAction"
    nodes = {_exe(n): n for n in _nodes(entities)}
    assert set(nodes) == {
        "sim_cell",
        "franka_bridge",
        "planner_node",
        "goal_selector",
        "rviz2",
        "foxglove_bridge",
    }
    assert _pred(nodes["sim_cell"].condition) == "use_sim"
    assert _pred(nodes["rviz2"].condition) == "rviz"
    assert _pred(nodes["foxglove_bridge"].condition) == "foxglove"
    assert nodes["planner_node"].condition is None
    rules = [e for e in entities if type(e).__name__ == "RegisterEventHandler"]
    targets = {_exe(_target(r)) for r in rules}
    assert targets == {"sim_cell", "franka_bridge", "planner_node", "goal_selector"}
    for r in rules:
        assert type(r.event_handler).__name__ == "OnProcessExit"
        name = _exe(_target(r))  # process name = executable name in config/NAME.yaml
        on_exit = _on_exit(r)
        running = types.SimpleNamespace(is_shutdown=False)
        # a clean exit, or any exit during the shutdown: a Shutdown event
        for code, ctx in ((0, running), (-2, types.SimpleNamespace(is_shutdown=True))):
            actions = on_exit(types.SimpleNamespace(returncode=code), ctx)
            events = [a.event for a in actions if type(a).__name__ == "EmitEvent"]
            assert [type(e).__name__ for e in events] == ["Shutdown"]
        # a failure while running: launch's error path (message, stop all, exit code 1)
        with pytest.raises(RuntimeError, match=f"required process {name} exited with code 2"):
            on_exit(types.SimpleNamespace(returncode=2), running)


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


def _path_args(name: str) -> dict[str, str]:
    """The package-share arguments pointing into the repository (no colcon install needed:
    FindPackageShare is never performed)."""
    return {
        "checkpoint": str(REPO / "weights" / "sim_tiny"),
        "goals_dir": str(REPO / "goals" / name),
        "params_file": str(REPO / "config" / f"{name}.params.yaml"),
    }


def _run_launch_service(entities: list, args: dict[str, str]) -> int:
    """Run the real LaunchService in this process on ``entities`` (no launch arguments)."""
    from launch import LaunchDescription, LaunchService

    assert not args  # arguments come with an include: see _ros2_launch
    ls = LaunchService()
    ls.include_launch_description(LaunchDescription(entities))
    return ls.run()


_LAUNCH = """
import sys
from launch import LaunchDescription, LaunchService
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
ls = LaunchService(argv=sys.argv[2:])
ls.include_launch_description(LaunchDescription([IncludeLaunchDescription(
    PythonLaunchDescriptionSource(sys.argv[1]),
    launch_arguments=[a.split(":=", 1) for a in sys.argv[2:]])]))
sys.exit(ls.run())
"""


def _ros2_launch(
    name: str, args: dict[str, str], timeout: float = 90
) -> subprocess.CompletedProcess:
    """What ``ros2 launch vjepa2 NAME.launch.py k:=v ...`` does (an include with launch
    arguments), in its own session that is killed afterwards, whatever it started."""
    cmd = [
        sys.executable,
        "-c",
        _LAUNCH,
        str(REPO / "launch" / f"{name}.launch.py"),
        *[f"{k}:={v}" for k, v in args.items()],
    ]
    p = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out = ""
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
    return subprocess.CompletedProcess(cmd, p.returncode, out)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"device": "tpu"}, "parameter 'device'"),
        ({"hold_margin": "abc"}, "parameter 'hold_margin': must be a number"),
        ({"camera_topic": "bad topic"}, "parameter 'camera_topic'"),
        ({"rviz": "true"}, "rviz2 package is not installed"),
    ],
)
@pytest.mark.timeout(120)
def test_launch_check_fails_before_anything_starts(monkeypatch, bad, message) -> None:
    """The first action runs the bringup's validation and the rviz2 check: a bad value (or
    rviz:=true without rviz2) stops the launch naming it, before any process starts."""
    entities, real = load_launch_description("pick_place", monkeypatch)
    args = {**_path_args("pick_place"), "robot_ip": "127.0.213.7", **bad}
    if real:  # the real LaunchService: exit code 1 at once, the message, nothing started
        t0 = time.monotonic()
        r = _ros2_launch("pick_place", args)
        assert r.returncode == 1 and time.monotonic() - t0 < 60, r.stdout
        assert message in r.stdout, r.stdout
        assert "process started" not in r.stdout, r.stdout
        return
    check = next(e for e in entities if type(e).__name__ == "OpaqueFunction")
    declared = {e.name: e for e in entities if type(e).__name__ == "DeclareLaunchArgument"}
    values = {
        k: str(bringup.argument_values(bringup.load_bringup("pick_place"))[k]) for k in declared
    }
    values.update(rviz="false", use_sim="true", hold_margin="0.0", gripper_margin="0.002")
    values.update(_path_args("pick_place"))
    assert check.kwargs["function"](types.SimpleNamespace(values=values)) == []  # defaults: ok
    with pytest.raises((ValueError, RuntimeError), match=message):
        check.kwargs["function"](types.SimpleNamespace(values={**values, **bad}))


@pytest.mark.timeout(120)
def test_required_process_failure_stops_the_launch(monkeypatch, tmp_path) -> None:
    """The launch files' OnProcessExit rule: a required process that fails stops the others
    and makes the launch exit 1; one that ends cleanly stops them with exit code 0."""
    load_launch_description("reach", monkeypatch)
    vl = sys.modules["_vjepa2_launch"]
    assert vl.required_exit_actions("planner_node", 0, False)  # LogInfo + Shutdown
    with pytest.raises(RuntimeError, match="planner_node exited with code 3"):
        vl.required_exit_actions("planner_node", 3, False)
    assert vl.required_exit_actions("planner_node", 3, True)  # during the shutdown: no error
    try:
        from launch.actions import ExecuteProcess
    except ImportError:
        return  # no real launch API: the rule's actions above are what it would run
    for code, want in ((3, 1), (0, 0)):
        marker = tmp_path / f"survivor_{code}"
        survivor = ExecuteProcess(
            cmd=[
                sys.executable,
                "-c",
                (
                    "import time, pathlib; time.sleep(60); "
                    f"pathlib.Path({str(marker)!r}).write_text('still ran')"
                ),
            ],
            sigterm_timeout="2",
            output="screen",
        )
        failing = ExecuteProcess(
            cmd=[sys.executable, "-c", f"import time, sys; time.sleep(1); sys.exit({code})"]
        )
        t0 = time.monotonic()
        rc = _run_launch_service([vl._shutdown_on_exit("failing", failing), survivor, failing], {})
        assert rc == want and time.monotonic() - t0 < 30
        time.sleep(0.5)
        assert not marker.exists()  # the survivor was stopped, not left running


def test_defaults_do_not_depend_on_the_current_directory(tmp_path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "vjepa2_planner_node.bringup", "reach", "--print"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert r.returncode == 0, r.stderr
    share = bringup.share_dir()  # the colcon install's share/vjepa2 if on AMENT_PREFIX_PATH
    assert f'checkpoint:="{share}/weights/sim_tiny"' in r.stdout
    assert f'goals_dir:="{share}/goals/reach"' in r.stdout
    assert not (tmp_path / "goals").exists()
    show = subprocess.run(
        [sys.executable, "-m", "vjepa2_planner_node.bringup", "reach", "--show-args"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert "no description given" not in show.stdout and "choices: true, false" in show.stdout
