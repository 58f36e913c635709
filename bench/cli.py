"""`vjepa2 bench NAME`: dispatch to the benchmark scripts in bench/."""

from __future__ import annotations

import importlib
import sys

BENCHES: dict[str, str] = {
    "models": "bench.bench_models",
    "plan": "bench.bench_plan",
    "dynamics": "bench.eval_dynamics",
    "ros": "bench.bench_ros_overhead",
    "sim": "bench.bench_sim",
    "gripper": "bench.eval_gripper_effect",
}


def main(argv: list[str]) -> int:
    """Run ``vjepa2 bench NAME [ARGS...]``."""
    if not argv or argv[0] not in BENCHES:
        print(f"usage: vjepa2 bench {{{'|'.join(BENCHES)}}} [ARGS...]", file=sys.stderr)
        return 2
    module = importlib.import_module(BENCHES[argv[0]])
    return int(module.main(argv[1:]) or 0)
