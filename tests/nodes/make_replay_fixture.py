"""Record the replay-test fixture bag from the simulated cell (run by hand, ~1 min).

    .venv/bin/python -m tests.nodes.make_replay_fixture

Starts sim_cell (128x128 camera at 4 Hz), franka_bridge and planner_node (random-init tiny
weights, seed 0: conftest.make_tiny_checkpoint), records camera/state/commands/status with
`vjepa2 record`'s recorder while a 3-step PlanToGoal runs, and writes
tests/nodes/fixtures/replay_sim/ (MCAP bag), replay_sim_goal.png and replay_sim.json
(weights hash + planner settings the replay test must use).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
PLANNER_ARGS = [
    "-p",
    "device:=cpu",
    "-p",
    "samples:=16",
    "-p",
    "iterations:=2",
    "-p",
    "elites:=4",
    "-p",
    "seed:=0",
    "-p",
    "stale_after_s:=2.0",
]
STEPS = 3


def weights_hash(ckpt: Path) -> str:
    """sha256 over the tensors (not the file bytes: the header metadata may vary)."""
    from safetensors import safe_open

    h = hashlib.sha256()
    for f in sorted(ckpt.glob("*.safetensors")):
        with safe_open(str(f), framework="np") as st:
            for k in sorted(st.keys()):
                h.update(k.encode())
                h.update(st.get_tensor(k).tobytes())
    return h.hexdigest()


def main() -> int:
    rng = random.SystemRandom()
    os.environ["ROS_DOMAIN_ID"] = str(rng.randint(102, 200))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    from vjepa2_planner_node.ros_env import ensure_ros_env

    ensure_ros_env()
    from sensor_msgs.msg import Image
    from std_msgs.msg import String
    from vjepa2_interfaces.action import ExecuteDelta, PlanToGoal
    from vjepa2_interfaces.msg import EEDelta

    from tests.nodes.conftest import make_tiny_checkpoint
    from tests.nodes.rosproc import Client, start, stop, wait_until
    from vjepa2_planner_node.bag_tools import record
    from vjepa2_planner_node.goal_library import GoalLibrary
    from vjepa2_planner_node.image_codec import array_to_image_msg, image_msg_to_rgb8
    from vjepa2_planner_node.ros_common import ActionClient

    tmp = Path(tempfile.mkdtemp(prefix="replay_fixture_"))
    ckpt = tmp / "ckpt"
    ckpt.mkdir()
    make_tiny_checkpoint(ckpt)
    ip = f"127.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
    procs = [
        start(
            "vjepa2_planner_node.sim_cell",
            "-p",
            f"hostname:={ip}",
            "-p",
            "camera_rate:=4.0",
            "-p",
            "width:=128",
            "-p",
            "height:=128",
            "-p",
            "publish_clock:=false",
            "-p",
            "stamp_source:=wall",
            "-p",
            "cube_pose:=[0.5, 0.0]",
            log=tmp / "sim.log",
            extra_env={"MUJOCO_GL": "egl"},
        ),
        start(
            "vjepa2_planner_node.franka_bridge",
            "-p",
            f"robot_ip:={ip}",
            "-p",
            "max_linear_vel:=0.3",
            "-p",
            "min_duration:=0.2",
            log=tmp / "bridge.log",
        ),
        start(
            "vjepa2_planner_node.planner_node",
            "-p",
            f"checkpoint:={ckpt}",
            "-p",
            f"goals_dir:={tmp / 'goals'}",
            *PLANNER_ARGS,
            log=tmp / "planner.log",
        ),
    ]
    c = Client("fixture_client")
    try:
        frames = c.collect(Image, "/camera/image_raw")
        status = c.collect(String, "/franka/status")
        wait_until(lambda: status and status[-1].data.startswith("ok") and frames, 120, "sim up")
        plan = ActionClient(c.node, PlanToGoal, "/planner/plan_to_goal")
        move = ActionClient(c.node, ExecuteDelta, "/franka/execute_delta")
        assert plan.wait_for_server(timeout_sec=60) and move.wait_for_server(timeout_sec=10)
        goal_img = image_msg_to_rgb8(frames[-1])
        h = c.result(move.send_goal_async(ExecuteDelta.Goal(delta=EEDelta(dx=0.06, dy=0.05))))
        assert c.result(h.get_result_async(), 30).result.success
        out = tmp / "bag"
        stop_rec = threading.Event()
        rec = threading.Thread(
            target=record,
            args=(
                out,
                ["/camera/image_raw", "/franka/ee_state", "/planner/ee_delta", "/planner/status"],
            ),
            kwargs={"stop": stop_rec},
            daemon=True,
        )
        rec.start()
        time.sleep(3.0)
        handle = c.result(
            plan.send_goal_async(
                PlanToGoal.Goal(
                    goal_names=["start"],
                    step_budgets=[STEPS],
                    energy_threshold=1e-9,
                    goal_images=[array_to_image_msg(goal_img, "rgb8")],
                )
            ),
            10,
        )
        res = c.result(handle.get_result_async(), 300, "PlanToGoal")
        assert res.result.steps == STEPS, res.result.message
        time.sleep(1.5)
        stop_rec.set()
        rec.join(10)
        FIXTURES.mkdir(exist_ok=True)
        dest = FIXTURES / "replay_sim"
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(out, dest)
        GoalLibrary(FIXTURES).save("replay_sim_goal", goal_img, overwrite=True)
        (FIXTURES / "replay_sim.json").write_text(
            json.dumps(
                {
                    "weights_sha256": weights_hash(ckpt),
                    "planner_args": PLANNER_ARGS,
                    "steps": STEPS,
                },
                indent=1,
            )
        )
        size = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
        print(f"wrote {dest} ({size / 1e6:.2f} MB)")
    finally:
        c.close()
        stop(procs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
