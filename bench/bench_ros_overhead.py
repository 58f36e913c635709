"""ROS overhead of one planning step at the cpu preset (`vjepa2 bench ros`).

Starts a stand-in cell (tests/nodes/fake_cell: 256x256 rgb8 camera at 30 Hz, state,
ExecuteDelta with zero motion time) and planner_node (world model + planner in one
process, vit_tiny + ac_tiny with deterministic random weights, cpu preset), runs a
PlanToGoal of N steps and splits each step (PlanToGoal feedback, world-model
diagnostics):

    step = plan (CEM, model) + encode (model) + execute (ExecuteDelta round trip; the
           motion itself takes 0 here) + rest (waiting for the next camera frame,
           image decode, status/feedback/marker publishing)

ROS overhead = execute + rest - frame wait (half a camera period on average); printed
in ms and as % of the step. Usage: vjepa2 bench ros [--steps N] [--threads T]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vjepa2 bench ros", description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--camera-hz", type=float, default=30.0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads in planner_node")
    ap.add_argument("--preset", default="cpu")
    ns = ap.parse_args(argv)
    os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(150, 230))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    from vjepa2_planner_node.ros_env import ensure_ros_env

    ensure_ros_env()
    import numpy as np
    from diagnostic_msgs.msg import DiagnosticArray
    from vjepa2_interfaces.action import PlanToGoal

    from tests.nodes.conftest import make_tiny_checkpoint
    from tests.nodes.fake_cell import render
    from tests.nodes.rosproc import Client, start, stop
    from vjepa2_planner_node.image_codec import array_to_image_msg
    from vjepa2_planner_node.ros_common import ActionClient

    tmp = Path(tempfile.mkdtemp(prefix="bench_ros_"))
    ckpt = tmp / "ckpt"
    ckpt.mkdir()
    make_tiny_checkpoint(ckpt)
    env = {"OMP_NUM_THREADS": str(ns.threads)}
    procs = [
        start(
            "tests.nodes.fake_cell",
            "-p",
            "motion_s:=0.0",
            "-p",
            f"camera_hz:={ns.camera_hz}",
            "-p",
            "image_size:=256",
            log=tmp / "cell.log",
        ),
        start(
            "vjepa2_planner_node.planner_node",
            "-p",
            f"checkpoint:={ckpt}",
            "-p",
            "device:=cpu",
            "-p",
            f"preset:={ns.preset}",
            "-p",
            f"goals_dir:={tmp / 'goals'}",
            log=tmp / "planner.log",
            extra_env=env,
        ),
    ]
    c = Client("bench_client")
    try:
        diag = c.collect(DiagnosticArray, "/diagnostics")
        plan = ActionClient(c.node, PlanToGoal, "/planner/plan_to_goal")
        if not plan.wait_for_server(timeout_sec=120):
            print((tmp / "planner.log").read_text(), file=sys.stderr)
            return 1
        goal = PlanToGoal.Goal(
            goal_names=["g"],
            step_budgets=[ns.steps],
            energy_threshold=1e-9,
            goal_images=[array_to_image_msg(render(np.array([0.5, 0.1, 0.3, 0, 0, 0, 1.0]), 256))],
        )
        fbs: list = []
        h = c.result(
            plan.send_goal_async(goal, feedback_callback=lambda m: fbs.append(m.feedback)),
            30,
            "goal",
        )
        c.result(h.get_result_async(), 60 + 60 * ns.steps, "result")
        enc = [
            float(kv.value)
            for d in diag
            for st in d.status
            for kv in st.values
            if kv.key == "encode_ms" and kv.value not in ("nan",)
        ]
    finally:
        c.close()
        stop(procs)
    fbs = fbs[1:]  # drop the first step (warm-up)
    if not fbs:
        print("no feedback received", file=sys.stderr)
        return 1

    def med(xs: list[float]) -> float:
        return statistics.median(xs)

    step = med([f.step_ms for f in fbs])
    plan_ms = med([f.plan_ms for f in fbs])
    exe = med([f.execute_ms for f in fbs])
    encode = med(enc) if enc else float("nan")
    rest = step - plan_ms - exe - encode
    frame_wait = 0.5 * 1e3 / ns.camera_hz
    overhead = exe + max(0.0, rest - frame_wait)
    print(
        f"planning step at preset {ns.preset!r} ({len(fbs)} steps, medians, torch threads "
        f"{ns.threads}, camera {ns.camera_hz:g} Hz 256x256):"
    )
    print(f"  step        {step:9.1f} ms")
    print(f"  plan (CEM)  {plan_ms:9.1f} ms")
    print(f"  encode      {encode:9.1f} ms")
    print(f"  execute     {exe:9.1f} ms   (ExecuteDelta round trip, zero-time motion)")
    print(f"  rest        {rest:9.1f} ms   (frame wait ~{frame_wait:.0f} ms avg, decode, msgs)")
    print(
        f"  ROS overhead {overhead:8.1f} ms = {100 * overhead / step:.1f} % of the step "
        f"({100 * (exe + rest) / step:.1f} % incl. the camera frame wait)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
