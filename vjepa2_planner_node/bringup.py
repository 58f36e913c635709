"""Bringups: config/NAME.yaml says which node processes and parameters make up a stack.

The same file drives both ways of starting it, so they cannot drift apart:
- ROS installs: ``ros2 launch vjepa2 NAME.launch.py arg:=value`` (launch/NAME.launch.py
  calls ``load_bringup`` + ``resolve`` and turns each process into a launch_ros Node);
- pip-only machines: ``vjepa2 bringup NAME arg:=value`` starts each process with
  ``python -m MODULE --ros-args --params-file FILE``.

YAML layout::

    arguments: {robot_ip: 127.0.0.1, use_sim: true, checkpoint: ..., device: auto, ...}
    processes:
      planner_node:                       # process name
        executable: planner_node          # ROS package vjepa2 executable
        module: vjepa2_planner_node.planner_node   # python -m MODULE on pip machines
        if: use_sim                       # optional; also `unless:`
        parameters:                       # per ROS node name inside the process
          world_model: {checkpoint: ${checkpoint}, device: ${device}}
          planner: {goals_dir: ${goals_dir}}

``${arg}`` alone in a value keeps the argument's type; inside a longer string it is
replaced as text. Arguments are validated before anything starts (device, checkpoint,
camera_topic, goals_dir, preset) and each node validates its own parameters at startup; both
fail naming the parameter.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vjepa2_planner_node.params import ParamError, check_checkpoint, check_device, check_topic

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "config"
LAUNCH_ARGUMENTS = ("robot_ip", "use_sim", "checkpoint", "device", "camera_topic",
                    "goals_dir", "rviz", "preset", "foxglove", "foxglove_port")
_SUB = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class ProcessSpec:
    name: str
    executable: str
    module: str
    package: str = "vjepa2"
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    arguments: list[str] = field(default_factory=list)
    pip: bool = True  # runs on pip-only machines (rviz2 does not)


@dataclass
class Bringup:
    name: str
    path: Path
    arguments: dict[str, Any]
    processes: list[dict[str, Any]]


def find_config(name: str, config_dir: Path | None = None) -> Path:
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    path = (config_dir or CONFIG_DIR) / f"{name}.yaml"
    if not path.is_file():
        have = sorted(p.stem for p in (config_dir or CONFIG_DIR).glob("*.yaml")
                      if "processes" in (yaml.safe_load(p.read_text()) or {}))
        raise ValueError(f"no bringup named {name!r} (have: {have})")
    return path


def load_bringup(name: str, config_dir: Path | None = None) -> Bringup:
    """Read config/NAME.yaml (or a .yaml path)."""
    path = find_config(name, config_dir)
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data.get("processes"), dict) or not isinstance(data.get("arguments"), dict):
        raise ValueError(f"{path}: a bringup needs 'arguments' and 'processes' mappings")
    procs = [{"name": k, **(v or {})} for k, v in data["processes"].items()]
    return Bringup(path.stem, path, dict(data["arguments"]), procs)


def parse_value(text: str) -> Any:
    """A launch-argument string as YAML would type it ('true' -> True, '0.5' -> 0.5)."""
    try:
        return yaml.safe_load(text) if text != "" else ""
    except yaml.YAMLError:
        return text


def _truthy(v: Any, arg: str) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("true", "1", "yes", "on"):
        return True
    if s in ("false", "0", "no", "off", ""):
        return False
    raise ParamError(arg, f"{v!r} is not a boolean")


def _substitute(value: Any, args: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, args) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, args) for v in value]
    if not isinstance(value, str):
        return value
    m = _SUB.fullmatch(value)
    if m:
        if m.group(1) not in args:
            raise ValueError(f"unknown argument ${{{m.group(1)}}}")
        return args[m.group(1)]

    def text(mm: re.Match) -> str:
        if mm.group(1) not in args:
            raise ValueError(f"unknown argument ${{{mm.group(1)}}}")
        return str(args[mm.group(1)])

    return _SUB.sub(text, value)


def validate_arguments(args: dict[str, Any]) -> None:
    """Fail before anything starts, naming the bad argument."""
    if "device" in args:
        check_device(str(args["device"]), "device")
    if "checkpoint" in args:
        check_checkpoint(str(args["checkpoint"]), "checkpoint")
    if "camera_topic" in args:
        check_topic(str(args["camera_topic"]), "camera_topic")
    if "goals_dir" in args and not str(args["goals_dir"]).strip():
        raise ParamError("goals_dir", "is empty")
    if "preset" in args:
        from vjepa2_world_model.planning.presets import PRESETS

        if str(args["preset"]) not in PRESETS:
            raise ParamError("preset", f"unknown planning preset {args['preset']!r} "
                                       f"(known: {sorted(PRESETS)})")
    for name in ("hold_margin", "gripper_margin"):
        if name in args:
            try:
                args[name] = float(args[name])
            except (TypeError, ValueError):
                raise ParamError(name, f"must be a number (< 0 = off / default), got "
                                       f"{args[name]!r}") from None
    for b in ("use_sim", "rviz", "foxglove"):
        if b in args:
            args[b] = _truthy(args[b], b)
    if "foxglove_port" in args:
        _check_port(args)


def _check_port(args: dict[str, Any]) -> None:
    try:
        port = int(args["foxglove_port"])
    except (TypeError, ValueError):
        port = -1
    if not 0 <= port < 65536 or str(port) != str(args["foxglove_port"]).strip():
        raise ParamError("foxglove_port", f"must be a port number 0..65535, got "
                                          f"{args['foxglove_port']!r}")
    args["foxglove_port"] = port


def resolve(bringup: Bringup, overrides: dict[str, Any] | None = None) -> list[ProcessSpec]:
    """Processes to start for these argument values (validated)."""
    args = dict(bringup.arguments)
    for k, v in (overrides or {}).items():
        if k not in args:
            raise ParamError(k, f"unknown argument of bringup {bringup.name!r} "
                                f"(known: {sorted(args)})")
        args[k] = parse_value(v) if isinstance(v, str) else v
    validate_arguments(args)
    args.setdefault("config_dir", str(bringup.path.parent))  # for ${config_dir}/vjepa2.rviz
    out = []
    for p in bringup.processes:
        if "if" in p and not _truthy(args.get(p["if"]), p["if"]):
            continue
        if "unless" in p and _truthy(args.get(p["unless"]), p["unless"]):
            continue
        out.append(ProcessSpec(
            name=p["name"], executable=p.get("executable", p["name"]),
            module=p.get("module", ""), package=p.get("package", "vjepa2"),
            parameters=_substitute(p.get("parameters") or {}, args),
            arguments=[str(a) for a in _substitute(p.get("arguments") or [], args)],
            pip=bool(p.get("pip", True))))
    return out


def write_params_file(spec: ProcessSpec, directory: str | Path) -> Path:
    """ROS params YAML ({node: {ros__parameters: {...}}}) for one process."""
    path = Path(directory) / f"{spec.name}.params.yaml"
    data = {node: {"ros__parameters": params} for node, params in spec.parameters.items()}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def command(spec: ProcessSpec, params_file: Path | None) -> list[str]:
    cmd = [sys.executable, "-m", spec.module, *spec.arguments]
    if params_file is not None and spec.parameters:
        cmd += ["--ros-args", "--params-file", str(params_file)]
    return cmd


def run(specs: list[ProcessSpec], startup_s: float = 5.0) -> int:
    """Start the processes; stop all when one fails or on Ctrl-C. Returns an exit code."""
    from vjepa2_planner_node.interrupts import interrupt_on_signals
    from vjepa2_planner_node.ros_env import ensure_ros_env

    ensure_ros_env()
    # Ctrl-C and `kill` stop the children cleanly, also when started as a background job
    interrupt_on_signals(override_ignored_sigint=True)
    tmp = tempfile.mkdtemp(prefix="vjepa2_bringup_")
    procs: list[tuple[ProcessSpec, subprocess.Popen]] = []
    code = 0
    try:
        for spec in specs:
            if not spec.pip or not spec.module:
                print(f"[bringup] skipping {spec.name}: not runnable without a ROS install",
                      file=sys.stderr)
                continue
            cmd = command(spec, write_params_file(spec, tmp))
            print(f"[bringup] {spec.name}: {' '.join(cmd)}", flush=True)
            procs.append((spec, subprocess.Popen(cmd, env=os.environ.copy())))
        while True:
            for spec, p in procs:
                rc = p.poll()
                if rc is not None:
                    print(f"[bringup] {spec.name} exited with code {rc}; stopping the others",
                          file=sys.stderr, flush=True)
                    return rc if rc != 0 else 1
            time.sleep(0.2)
    except KeyboardInterrupt:
        code = 0
    finally:
        for _, p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 5.0
        for _, p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
    return code


def main(argv: list[str] | None = None) -> int:
    """``vjepa2 bringup NAME [arg:=value ...] [--print]``."""
    ap = argparse.ArgumentParser(prog="vjepa2 bringup", description=__doc__.split("\n")[0])
    ap.add_argument("name", help="bringup name (config/NAME.yaml) or a bringup .yaml path")
    ap.add_argument("args", nargs="*", help="launch arguments as name:=value")
    ap.add_argument("--print", action="store_true", help="print the processes and exit")
    ns = ap.parse_intermixed_args(argv)
    overrides = {}
    for a in ns.args:
        if ":=" not in a:
            ap.error(f"argument {a!r} is not name:=value")
        k, v = a.split(":=", 1)
        overrides[k] = v
    try:
        specs = resolve(load_bringup(ns.name), overrides)
    except ValueError as e:
        print(f"vjepa2 bringup: {e}", file=sys.stderr)
        return 2
    if ns.print:
        for s in specs:
            print(f"{s.name}: {' '.join(command(s, Path('PARAMS')))}")
            print(yaml.safe_dump(s.parameters, sort_keys=False))
        return 0
    return run(specs)


if __name__ == "__main__":
    sys.exit(main())
