"""Bringups: config/NAME.yaml says which node processes and parameters make up a stack.

The same files drive both ways of starting it, so they cannot drift apart:
- ROS installs: ``ros2 launch vjepa2 NAME.launch.py arg:=value`` (launch/_vjepa2_launch.py
  builds DeclareLaunchArgument / Node / IfCondition / OnProcessExit actions from it);
- pip-only machines: ``vjepa2 bringup NAME arg:=value`` starts each process with
  ``python -m MODULE --ros-args --params-file PARAMS -p name:=value ...``.

YAML layout::

    arguments:
      use_sim: {default: "true", choices: ["true", "false"], description: ...}
      hold_margin: {default: 0.0, type: float, description: ...}
      params_file: {default: "${share}/config/NAME.params.yaml", ...}
    processes:
      planner_node:                       # process name
        executable: planner_node          # ROS package vjepa2 executable
        module: vjepa2_planner_node.planner_node   # python -m MODULE on pip machines
        if: use_sim                       # optional; also `unless:`
        required: true                    # default: its exit stops the whole stack
        parameters: {checkpoint: ${checkpoint}}   # to every node in the process

Fixed node parameters are in the standard ROS parameters file ``params_file``. ``${arg}``
alone in a value keeps the argument's type; inside a longer string it is replaced as text;
``${share}`` is the vjepa2 package share (the repository on pip-only machines), so defaults
never depend on the current directory. Arguments are validated before anything starts
(device, checkpoint, camera_topic, goals_dir, preset, booleans, numbers, choices) and each
node validates its own parameters at startup; both fail naming the parameter.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vjepa2_planner_node.params import ParamError, check_checkpoint, check_device, check_topic
from vjepa2_world_model.resources import data_root

REPO_ROOT = data_root()  # the checkout, or <prefix>/share/vjepa2 when installed
CONFIG_DIR = REPO_ROOT / "config"
PACKAGE = "vjepa2"
LAUNCH_ARGUMENTS = (
    "robot_ip",
    "use_sim",
    "checkpoint",
    "device",
    "camera_topic",
    "goals_dir",
    "rviz",
    "preset",
    "namespace",
    "params_file",
    "foxglove",
    "foxglove_port",
)
BOOLEAN_ARGUMENTS = ("use_sim", "rviz", "foxglove")
_SUB = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TYPES = {"str": str, "float": float, "int": int, "bool": bool}


def share_dir() -> Path:
    """The vjepa2 package share (config/, goals/, weights/): the colcon install's
    ``share/vjepa2`` when it is on AMENT_PREFIX_PATH, else this repository."""
    try:
        from ament_index_python.packages import get_package_share_directory

        d = Path(get_package_share_directory(PACKAGE))
        if (d / "config").is_dir():
            return d
    except Exception:
        pass
    return REPO_ROOT


@dataclass
class ArgSpec:
    """One launch argument: DeclareLaunchArgument's fields plus the value type."""

    name: str
    default: Any
    description: str = ""
    choices: list[str] | None = None
    type: str = "str"

    def default_text(self) -> str:
        v = self.default
        return str(v).lower() if isinstance(v, bool) else str(v)


@dataclass
class ProcessSpec:
    name: str
    executable: str
    module: str
    package: str = PACKAGE
    parameters: dict[str, Any] = field(default_factory=dict)
    arguments: list[str] = field(default_factory=list)
    pip: bool = True  # runs on pip-only machines (rviz2 does not)
    required: bool = True  # its exit stops the whole stack
    params_file: str | None = None
    namespace: str = ""


@dataclass
class Bringup:
    name: str
    path: Path
    specs: dict[str, ArgSpec]
    processes: list[dict[str, Any]]

    @property
    def arguments(self) -> dict[str, Any]:
        """Default argument values (``${share}`` still unexpanded)."""
        return {k: a.default for k, a in self.specs.items()}


def find_config(name: str, config_dir: Path | None = None) -> Path:
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    cdir = config_dir or share_dir() / "config"
    path = cdir / f"{name}.yaml"
    if not path.is_file():
        have = sorted(
            p.stem
            for p in cdir.glob("*.yaml")
            if "processes" in (yaml.safe_load(p.read_text()) or {})
        )
        raise ValueError(f"no bringup named {name!r} (have: {have})")
    return path


def _arg_spec(name: str, value: Any) -> ArgSpec:
    if not isinstance(value, dict):  # short form `name: default`
        kind = "float" if isinstance(value, float) else "str"
        return ArgSpec(name, value, type=kind)
    if "default" not in value:
        raise ValueError(f"argument {name!r} has no default")
    kind = str(value.get("type", "str"))
    if kind not in _TYPES:
        raise ValueError(f"argument {name!r}: unknown type {kind!r}")
    choices = value.get("choices")
    return ArgSpec(
        name,
        value["default"],
        str(value.get("description", "")),
        [str(c) for c in choices] if choices else None,
        kind,
    )


def load_bringup(name: str, config_dir: Path | None = None) -> Bringup:
    """Read config/NAME.yaml (or a .yaml path)."""
    path = find_config(name, config_dir)
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data.get("processes"), dict) or not isinstance(data.get("arguments"), dict):
        raise ValueError(f"{path}: a bringup needs 'arguments' and 'processes' mappings")
    specs = {k: _arg_spec(k, v) for k, v in data["arguments"].items()}
    procs = [{"name": k, **(v or {})} for k, v in data["processes"].items()]
    return Bringup(path.stem, path, specs, procs)


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


def validate_arguments(args: dict[str, Any], specs: dict[str, ArgSpec] | None = None) -> None:
    """Fail before anything starts, naming the bad argument (types values in place)."""
    for name, spec in (specs or {}).items():
        if (
            spec.choices
            and name in args
            and str(args[name]).lower() not in [c.lower() for c in spec.choices]
        ):
            raise ParamError(name, f"{args[name]!r} is not one of {spec.choices}")
    if "device" in args:
        check_device(str(args["device"]), "device")
    if "checkpoint" in args:
        check_checkpoint(str(args["checkpoint"]), "checkpoint")
    if "camera_topic" in args:
        check_topic(str(args["camera_topic"]), "camera_topic")
    if "goals_dir" in args and not str(args["goals_dir"]).strip():
        raise ParamError("goals_dir", "is empty")
    if "namespace" in args and str(args["namespace"]).strip("/"):
        check_topic("/" + str(args["namespace"]).strip("/"), "namespace")
    if "params_file" in args and not Path(str(args["params_file"])).is_file():
        raise ParamError("params_file", f"{args['params_file']!r} is not a file")
    if "preset" in args:
        from vjepa2_world_model.planning.presets import PRESETS

        if str(args["preset"]) not in PRESETS:
            raise ParamError(
                "preset", f"unknown planning preset {args['preset']!r} (known: {sorted(PRESETS)})"
            )
    numbers = {n for n, s in (specs or {}).items() if s.type in ("float", "int")}
    for name in sorted(numbers | {"hold_margin", "gripper_margin"}):
        if name in args:
            kind = _TYPES[specs[name].type] if specs and name in specs else float
            try:
                args[name] = kind(args[name])
            except (TypeError, ValueError):
                raise ParamError(name, f"must be a number, got {args[name]!r}") from None
    for b in BOOLEAN_ARGUMENTS:
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
        raise ParamError(
            "foxglove_port", f"must be a port number 0..65535, got {args['foxglove_port']!r}"
        )
    args["foxglove_port"] = port


def argument_values(
    bringup: Bringup, overrides: dict[str, Any] | None = None, share: Path | str | None = None
) -> dict[str, Any]:
    """Defaults (``${share}`` expanded) updated by ``overrides``, validated and typed."""
    share = str(share or share_dir())
    args = {}
    for k, spec in bringup.specs.items():
        v = spec.default
        args[k] = v.replace("${share}", share) if isinstance(v, str) else v
    for k, v in (overrides or {}).items():
        if k not in args:
            raise ParamError(
                k, f"unknown argument of bringup {bringup.name!r} (known: {sorted(args)})"
            )
        args[k] = parse_value(v) if isinstance(v, str) and bringup.specs[k].type != "str" else v
    for k, spec in bringup.specs.items():  # a path or topic that YAML would type: keep text
        if spec.type == "str" and not isinstance(args[k], bool):
            args[k] = str(args[k])
    validate_arguments(args, bringup.specs)
    args.setdefault("share", share)
    return args


def condition_holds(proc: dict[str, Any], args: dict[str, Any]) -> bool:
    if "if" in proc and not _truthy(args.get(proc["if"]), proc["if"]):
        return False
    return not ("unless" in proc and _truthy(args.get(proc["unless"]), proc["unless"]))


def resolve(bringup: Bringup, overrides: dict[str, Any] | None = None) -> list[ProcessSpec]:
    """Processes to start for these argument values (validated)."""
    args = argument_values(bringup, overrides)
    text_args = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in args.items()}
    out = []
    for p in bringup.processes:
        if not condition_holds(p, args):
            continue
        pip = bool(p.get("pip", True))
        out.append(
            ProcessSpec(
                name=p["name"],
                executable=p.get("executable", p["name"]),
                module=p.get("module", ""),
                package=p.get("package", PACKAGE),
                parameters=_substitute(p.get("parameters") or {}, args),
                arguments=[str(a) for a in _substitute(p.get("arguments") or [], text_args)],
                pip=pip,
                required=bool(p.get("required", True)),
                params_file=str(args["params_file"]) if pip and args.get("params_file") else None,
                namespace=str(args.get("namespace", "") or ""),
            )
        )
    return out


def _yaml_scalar(value: Any) -> str:
    """A ``-p name:=VALUE`` text that rcl's YAML reading types like the value itself."""
    if isinstance(value, str):
        return json.dumps(value)  # a double-quoted YAML string: '1.0' or 'true' stay text
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def command(spec: ProcessSpec) -> list[str]:
    """``python -m MODULE ARGS --ros-args [-r __ns:=NS] [--params-file F] [-p k:=v ...]``."""
    cmd = [sys.executable, "-m", spec.module, *spec.arguments]
    ros: list[str] = []
    if spec.namespace.strip("/"):
        ros += ["-r", f"__ns:=/{spec.namespace.strip('/')}"]
    if spec.params_file:
        ros += ["--params-file", spec.params_file]
    for k, v in spec.parameters.items():
        ros += ["-p", f"{k}:={_yaml_scalar(v)}"]
    return cmd + (["--ros-args", *ros] if ros else [])


def _stop_all(procs: list[tuple[ProcessSpec, subprocess.Popen]], grace_s: float) -> None:
    for _, p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + grace_s
    for spec, p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(
                f"[bringup] {spec.name} did not stop in {grace_s:.0f} s: killing it",
                file=sys.stderr,
                flush=True,
            )
            p.kill()
            p.wait()


def run(specs: list[ProcessSpec], grace_s: float = 10.0) -> int:
    """Start the processes; stop all when a required one exits or on a signal.

    Like the launch file's OnProcessExit rule: any required process ending (crash, bad
    parameter, a simulator that died) shuts the whole stack down. Returns an exit code.
    """
    from vjepa2_planner_node.interrupts import interrupt_on_signals
    from vjepa2_planner_node.ros_env import ensure_ros_env

    ensure_ros_env()
    # Ctrl-C and `kill` stop the children cleanly, also when started as a background job
    interrupt_on_signals(override_ignored_sigint=True)
    procs: list[tuple[ProcessSpec, subprocess.Popen]] = []
    code = 0
    try:
        skipped = [s for s in specs if not s.pip or not s.module]
        for spec in skipped:
            print(
                f"[bringup] skipping {spec.name}: not runnable without a ROS install",
                file=sys.stderr,
            )
        for spec in specs:
            if spec in skipped:
                continue
            cmd = command(spec)
            print(f"[bringup] {spec.name}: {' '.join(cmd)}", flush=True)
            procs.append((spec, subprocess.Popen(cmd, env=os.environ.copy())))
        running = list(procs)
        while True:
            for spec, p in list(running):
                rc = p.poll()
                if rc is None:
                    continue
                running.remove((spec, p))
                if spec.required:
                    print(
                        f"[bringup] required process {spec.name} exited with code {rc}; "
                        "stopping the others",
                        file=sys.stderr,
                        flush=True,
                    )
                    return rc if rc != 0 else 1
                print(f"[bringup] {spec.name} exited with code {rc}", file=sys.stderr)
            time.sleep(0.2)
    except KeyboardInterrupt:
        # a second signal while the children stop must not cut the stop short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        code = 0
    finally:
        _stop_all(procs, grace_s)
    return code


def main(argv: list[str] | None = None) -> int:
    """``vjepa2 bringup NAME [arg:=value ...] [--print | --show-args]``."""
    ap = argparse.ArgumentParser(prog="vjepa2 bringup", description=__doc__.split("\n")[0])
    ap.add_argument("name", help="bringup name (config/NAME.yaml) or a bringup .yaml path")
    ap.add_argument("args", nargs="*", help="launch arguments as name:=value")
    ap.add_argument("--print", action="store_true", help="print the processes and exit")
    ap.add_argument(
        "--show-args",
        action="store_true",
        help="print the arguments with their descriptions and exit",
    )
    ns = ap.parse_intermixed_args(argv)
    overrides = {}
    for a in ns.args:
        if ":=" not in a:
            ap.error(f"argument {a!r} is not name:=value")
        k, v = a.split(":=", 1)
        overrides[k] = v
    try:
        b = load_bringup(ns.name)
        if ns.show_args:
            for spec in b.specs.values():
                choices = f" (choices: {', '.join(spec.choices)})" if spec.choices else ""
                print(
                    f"    '{spec.name}':\n        {spec.description}{choices}\n"
                    f"        (default: '{spec.default_text()}')"
                )
            return 0
        specs = resolve(b, overrides)
    except ValueError as e:
        print(f"vjepa2 bringup: {e}", file=sys.stderr)
        return 2
    if ns.print:
        for s in specs:
            print(f"{s.name}: {' '.join(command(s))}")
        return 0
    return run(specs)


if __name__ == "__main__":
    sys.exit(main())
