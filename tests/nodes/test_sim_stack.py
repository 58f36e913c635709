"""Acceptance on a pip-only machine: real sim cell (franky-sim + camera) + real franka_bridge +
planner_node (world model + planner, random-init tiny weights) as separate processes."""

from __future__ import annotations

import math
import random
import time

import numpy as np
import pytest
from action_msgs.msg import GoalStatus
from sensor_msgs.msg import Image
from std_msgs.msg import Float64MultiArray, String
from vjepa2_interfaces.action import ExecuteDelta, PlanToGoal
from vjepa2_interfaces.msg import EEDelta, PlannerStatus

from vjepa2_planner_node.ros_common import ActionClient

from .rosproc import Client, start, stop, wait_until


@pytest.fixture(scope="module")
def sim_stack(tmp_path_factory, tiny_checkpoint):
    tmp = tmp_path_factory.mktemp("sim_stack")
    rng = random.SystemRandom()
    ip = f"127.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
    procs = [
        start(
            "vjepa2_planner_node.sim_cell",
            "-p",
            f"hostname:={ip}",
            "-p",
            "camera_rate:=8.0",
            "-p",
            "publish_clock:=false",
            "-p",
            "cube_pose:=[0.5, 0.0]",
            log=tmp / "sim_cell.log",
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
            f"checkpoint:={tiny_checkpoint}",
            "-p",
            "device:=cpu",
            "-p",
            f"goals_dir:={tmp / 'goals'}",
            "-p",
            "samples:=16",
            "-p",
            "iterations:=2",
            "-p",
            "elites:=4",
            "-p",
            "stale_after_s:=1.0",
            log=tmp / "planner.log",
        ),
    ]
    c = Client()
    c.tmp, c.procs = tmp, procs
    c.status = c.collect(PlannerStatus, "/planner/status")
    c.states = c.collect(Float64MultiArray, "/franka/ee_state")
    c.frames = c.collect(Image, "/camera/image_raw")
    c.bridge_status = c.collect(String, "/franka/status")
    c.plan = ActionClient(c.node, PlanToGoal, "/planner/plan_to_goal")
    c.move = ActionClient(c.node, ExecuteDelta, "/franka/execute_delta")
    try:

        def up() -> bool:
            return (
                c.bridge_status
                and c.bridge_status[-1].data.startswith("ok")
                and c.states
                and c.frames
            )

        try:
            wait_until(up, 120, "sim cell + bridge up")
            assert c.plan.wait_for_server(timeout_sec=60)
        except AssertionError:
            logs = "\n".join(p.read_text()[-2000:] for p in tmp.glob("*.log"))
            raise AssertionError(f"stack did not come up\n{logs}") from None
        yield c
    finally:
        c.close()
        stop(procs)


def test_plan_to_goal_on_sim_and_cancel_stops_robot(sim_stack) -> None:
    c = sim_stack
    goal_frame = c.frames[-1]  # the current view is the goal ...
    h = c.result(
        c.move.send_goal_async(ExecuteDelta.Goal(delta=EEDelta(dx=0.06, dy=0.04))), 10, "move goal"
    )
    assert c.result(h.get_result_async(), 30, "move").result.success  # ... then move away
    s0 = np.array(c.states[-1].data)
    fbs: list = []
    handle = c.result(
        c.plan.send_goal_async(
            PlanToGoal.Goal(
                goal_names=["start"],
                goal_images=[goal_frame],
                step_budgets=[2],
                energy_threshold=1e-9,
            ),
            feedback_callback=lambda m: fbs.append(m.feedback),
        ),
        10,
        "PlanToGoal response",
    )
    assert handle.accepted
    res = c.result(handle.get_result_async(), 120, "PlanToGoal result")
    assert res.result.steps == 2 and [f.step for f in fbs] == [1, 2]
    planned = np.array([[f.action.dx, f.action.dy, f.action.dz] for f in fbs]).sum(0)
    moved = np.array(c.states[-1].data)[:3] - s0[:3]
    np.testing.assert_allclose(moved, planned, atol=0.01)  # the sim robot executed them

    # cancel during a motion: the robot stops within one control cycle (bridge stop_time)
    n = len(c.status)
    handle = c.result(
        c.plan.send_goal_async(
            PlanToGoal.Goal(
                goal_names=["start"],
                goal_images=[goal_frame],
                step_budgets=[20],
                energy_threshold=1e-9,
            )
        ),
        10,
        "second goal",
    )
    wait_until(
        lambda: any(s.state == "executing" and math.isnan(s.execute_ms) for s in c.status[n:]),
        120,
        "a motion in progress",
    )
    c.result(handle.cancel_goal_async(), 5, "cancel")
    r = c.result(handle.get_result_async(), 10, "canceled result")
    assert r.status == GoalStatus.STATUS_CANCELED
    time.sleep(0.2)
    k = len(c.states)
    wait_until(lambda: len(c.states) >= k + 3, 5, "robot state after the cancel")
    time.sleep(0.3)
    seg = np.array([m.data for m in c.states[k:]])
    assert np.abs(seg[:, :3] - seg[0, :3]).max() < 1e-3  # standing still
