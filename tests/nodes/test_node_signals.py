"""Node processes stop once and cleanly: SIGINT twice, SIGTERM, and their parent's death."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from vjepa2_interfaces.srv import ListGoals

from .rosproc import REPO, Client, start, stop, wait_until


def _goal_selector(tmp_path, log):
    return start("vjepa2_planner_node.goal_selector", "-p", f"goals_dir:={tmp_path}/goals", log=log)


def _ready(c: Client) -> None:
    c.call(ListGoals, "/goals/list", ListGoals.Request(), timeout=60)


@pytest.mark.parametrize(
    "signals", [[signal.SIGINT, signal.SIGINT], [signal.SIGTERM], [signal.SIGINT, signal.SIGTERM]]
)
def test_signals_stop_the_node_once_without_traceback(tmp_path, signals) -> None:
    log = tmp_path / "gs.log"
    p = _goal_selector(tmp_path, log)
    c = Client("signal_client")
    try:
        _ready(c)
        for s in signals:  # a supervisor's SIGINT to the group, then more
            os.kill(p.pid, s)
            time.sleep(0.02)
        rc = p.wait(timeout=20)
    finally:
        c.close()
        stop([p])
    text = log.read_text()
    assert rc == 0, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    assert "stopping:" in text  # the orderly path ran (the second signal may find it done)


def test_bridge_exits_when_its_parent_dies(tmp_path) -> None:
    """An orphaned bridge (its launcher killed -9) stops and exits by itself."""
    log = tmp_path / "bridge.log"
    code = (
        "import subprocess, sys; p = subprocess.Popen([sys.executable, '-m', "
        "'vjepa2_planner_node.franka_bridge', '--ros-args', '-p', "
        "'robot_ip:=127.0.0.251'], stdout=open(sys.argv[1], 'w'), "
        "stderr=subprocess.STDOUT); print(p.pid, flush=True); p.wait()"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code, str(log)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    child = int(parent.stdout.readline())
    try:
        wait_until(lambda: "franka_bridge: robot" in log.read_text(), 60, "bridge up")
        parent.kill()
        parent.wait()
        stat = Path(f"/proc/{child}/stat")
        wait_until(
            lambda: not stat.exists() or stat.read_text().split()[2] == "Z",
            15,
            lambda: "orphaned bridge to exit:\n" + log.read_text(),
        )
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    text = log.read_text()
    assert "parent process exited" in text and "Traceback" not in text, text


@pytest.mark.parametrize("signals", [[signal.SIGINT], [signal.SIGINT, signal.SIGINT]])
def test_ctrl_c_mid_goal_answers_the_client_and_stops_the_arm(
    tmp_path, tiny_checkpoint, signals
) -> None:
    """Ctrl-C (SIGINT, or the group's SIGINT followed by the launcher's) while a PlanToGoal
    runs and the arm moves: the client gets a result, the running delta is canceled (the
    arm stops mid-motion), the planner exits 0 and logs no traceback or RCLError."""
    import math

    import numpy as np
    from action_msgs.msg import GoalStatus
    from std_msgs.msg import Float64MultiArray
    from std_srvs.srv import Trigger
    from vjepa2_interfaces.action import PlanToGoal
    from vjepa2_interfaces.msg import PlannerStatus

    from vjepa2_planner_node.image_codec import array_to_image_msg
    from vjepa2_planner_node.ros_common import ActionClient

    from .fake_cell import render

    cell = start("tests.nodes.fake_cell", "-p", "motion_s:=3.0", log=tmp_path / "cell.log")
    log = tmp_path / "planner.log"
    planner = start(
        "vjepa2_planner_node.planner_node",
        "-p",
        f"planner:goals_dir:={tmp_path}/goals",
        "-p",
        f"world_model:checkpoint:={tiny_checkpoint}",
        "-p",
        "device:=cpu",
        "-p",
        "planner:samples:=16",
        "-p",
        "planner:iterations:=2",
        "-p",
        "planner:elites:=4",
        log=log,
    )
    c = Client("ctrl_c_client")
    try:
        status = c.collect(PlannerStatus, "/planner/status")
        states = c.collect(Float64MultiArray, "/franka/ee_state")
        plan = ActionClient(c.node, PlanToGoal, "/planner/plan_to_goal")
        assert plan.wait_for_server(timeout_sec=90), log.read_text()
        img = render(np.array([0.55, 0.12, 0.3, 0, 0, 0, 0.5]))
        goal = PlanToGoal.Goal(
            goal_names=["target"],
            goal_images=[array_to_image_msg(img)],
            step_budgets=[50],
            energy_threshold=1e-6,
        )
        handle = c.result(plan.send_goal_async(goal), 30, "goal response")
        assert handle.accepted
        # status "executing" with no execute_ms yet: a delta was just sent to the bridge
        wait_until(
            lambda: any(s.state == "executing" and math.isnan(s.execute_ms) for s in status),
            90,
            lambda: "a motion\n" + log.read_text(),
        )
        time.sleep(0.3)
        for s in signals:
            os.kill(planner.pid, s)
            time.sleep(0.1)
        res = c.result(handle.get_result_async(), 15, "PlanToGoal result after Ctrl-C")
        assert res.status in (GoalStatus.STATUS_ABORTED, GoalStatus.STATUS_CANCELED)
        assert "shutting down" in res.result.message, res.result.message
        rc = planner.wait(timeout=20)
        done = ast.literal_eval(c.call(Trigger, "/fake_cell/executed", Trigger.Request()).message)
        assert done and done[-1][0] == -1.0 and done[-1][1] < 300, done  # stopped mid-motion
        time.sleep(0.2)
        a = np.array(states[-1].data)
        time.sleep(0.5)
        np.testing.assert_array_equal(np.array(states[-1].data), a)  # the arm is at rest
    finally:
        c.close()
        stop([planner, cell])
    text = log.read_text()
    assert rc == 0, text
    for bad in ("Traceback", "KeyboardInterrupt", "RCLError", "context is invalid"):
        assert bad not in text, text
    assert "stopping: SIGINT received" in text
