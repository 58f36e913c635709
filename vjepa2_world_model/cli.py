"""The `vjepa2` command: one entry point, subcommands dispatched lazily.

Each subcommand names a ``module:function`` taking ``argv: list[str]``; the module
is imported only when that subcommand runs, so `vjepa2 info` never imports ROS.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    # name: ("module:function", one-line help)
    "info": ("vjepa2_world_model.info:main", "print a model's architecture and parameter count"),
    "bench": ("bench.cli:main", "run a benchmark: models | plan | dynamics | ros | sim | gripper"),
    "bringup": ("vjepa2_planner_node.bringup:main", "start a ROS stack from config/NAME.yaml"),
    "record": ("vjepa2_planner_node.bag_tools:record_main", "record topics to an MCAP bag"),
    "replay": ("vjepa2_planner_node.bag_tools:replay_main", "replay a bag at original timing"),
    "collect": ("vjepa2_world_model.data.collect:main", "collect sim exploration episodes (MCAP)"),
    "convert": ("vjepa2_world_model.convert:main", "released .pt -> safetensors checkpoint dir"),
    "cache-features": ("vjepa2_world_model.data.feature_cache:main", "build the feature cache"),
    "train-encoder": ("vjepa2_world_model.training.train_encoder:main", "V-JEPA pretraining"),
    "train-ac": ("vjepa2_world_model.training.train_ac:main", "train the AC predictor"),
    "train-readout": (
        "vjepa2_world_model.training.train_readout:main",
        "train the state readout head (features -> 7-D state)",
    ),
    "sim-cell": ("vjepa2_planner_node.sim_cell:main", "simulated Franka cell (sim + camera)"),
    "eval": ("vjepa2_eval.run:main", "evaluate planning in the sim cell"),
    "demo": ("vjepa2_eval.demo:main", "simulated pick-and-place demo (shipped weights)"),
    "calibrate-axes": ("calibration.calibrate_axes:main", "fit the model's action-axis rotation"),
    "franka-bridge": ("vjepa2_planner_node.franka_bridge:main", "libfranka controller bridge node"),
}


def _usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = ["usage: vjepa2 COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in sorted(COMMANDS.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``vjepa2 COMMAND ARGS...`` to the command's ``main(argv)``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"vjepa2: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name = COMMANDS[name][0].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    result = func(rest)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
