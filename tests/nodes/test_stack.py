"""Real node processes: fake cell (camera, state, ExecuteDelta) + planner_node (world model +
planner, random-init tiny weights) + goal_selector, driven by a client node over ROS."""

from __future__ import annotations

import ast
import math
import time

import numpy as np
import pytest
from action_msgs.msg import GoalStatus
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import SetBool, Trigger
from visualization_msgs.msg import InteractiveMarkerFeedback, InteractiveMarkerUpdate
from visualization_msgs.srv import GetInteractiveMarkers
from vjepa2_interfaces.action import PlanToGoal
from vjepa2_interfaces.msg import PlannerStatus
from vjepa2_interfaces.srv import CaptureGoal, ListGoals

from vjepa2_planner_node.image_codec import array_to_image_msg
from vjepa2_planner_node.ros_common import LATCHED_QOS, ActionClient

from .fake_cell import render
from .rosproc import Client, start, stop, wait_until


@pytest.fixture(scope="module")
def stack(tmp_path_factory, tiny_checkpoint):
    tmp = tmp_path_factory.mktemp("stack")
    goals = tmp / "goals"
    procs = [
        start("tests.nodes.fake_cell", "-p", "motion_s:=0.3", log=tmp / "cell.log"),
        start(
            "vjepa2_planner_node.planner_node",
            "-p",
            f"planner:goals_dir:={goals}",
            "-p",
            f"world_model:checkpoint:={tiny_checkpoint}",
            "-p",
            "device:=cpu",
            "-p",
            "world_model:stale_after_s:=0.5",
            "-p",
            "planner:samples:=16",
            "-p",
            "planner:iterations:=2",
            "-p",
            "planner:elites:=4",
            log=tmp / "planner.log",
        ),
        start(
            "vjepa2_planner_node.goal_selector", "-p", f"goals_dir:={goals}", log=tmp / "goals.log"
        ),
    ]
    client = Client()
    client.status = client.collect(PlannerStatus, "/planner/status")
    client.diag = client.collect(DiagnosticArray, "/diagnostics")
    client.plan = ActionClient(client.node, PlanToGoal, "/planner/plan_to_goal")
    client.tmp = tmp
    client.ckpt = tiny_checkpoint
    client.procs = procs
    try:
        assert client.plan.wait_for_server(timeout_sec=60), (tmp / "planner.log").read_text()
        yield client
    finally:
        client.close()
        stop(procs)


def executed(c: Client) -> list:
    return ast.literal_eval(c.call(Trigger, "/fake_cell/executed", Trigger.Request()).message)


def send(c: Client, goal: PlanToGoal.Goal):
    fbs: list = []
    handle = c.result(
        c.plan.send_goal_async(goal, feedback_callback=lambda m: fbs.append(m.feedback)),
        10,
        "goal response",
    )
    assert handle.accepted
    return handle, fbs


def image_goal(budget: int, threshold: float = 1e-6) -> PlanToGoal.Goal:
    img = render(np.array([0.55, 0.12, 0.3, 0, 0, 0, 0.5]))
    return PlanToGoal.Goal(
        goal_names=["target"],
        goal_images=[array_to_image_msg(img)],
        step_budgets=[budget],
        energy_threshold=threshold,
    )


def test_plan_to_goal_feedback_every_step_and_deltas_executed(stack) -> None:
    before = len(executed(stack))
    handle, fbs = send(stack, image_goal(3))
    res = stack.result(handle.get_result_async(), 60, "PlanToGoal result")
    assert res.status == GoalStatus.STATUS_ABORTED  # budget spent, threshold unreachable
    assert res.result.steps == 3 and not res.result.success and res.result.goals_reached == 0
    assert [f.step for f in fbs] == [1, 2, 3]
    assert all(f.plan_ms > 0 and f.execute_ms >= 250 and f.step_ms >= f.execute_ms for f in fbs)
    done = executed(stack)[before:]
    assert len(done) == 3
    for f, d in zip(fbs, done, strict=True):
        a = [
            f.action.dx,
            f.action.dy,
            f.action.dz,
            f.action.droll,
            f.action.dpitch,
            f.action.dyaw,
            f.action.dgripper,
        ]
        np.testing.assert_allclose(a, d, atol=1e-9)
    assert any(s.state == "executing" and s.goal_name == "target" for s in stack.status)


def _set_motion_s(stack, seconds: float) -> None:
    req = SetParameters.Request(
        parameters=[
            Parameter(
                name="motion_s",
                value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=seconds),
            )
        ]
    )
    r = stack.call(SetParameters, "/fake_cell/set_parameters", req)
    assert r.results[0].successful


def test_cancel_stops_robot_within_one_control_cycle(stack) -> None:
    # 2 s motions: the cancel must land mid-motion even on a loaded machine
    _set_motion_s(stack, 2.0)
    try:
        _cancel_mid_motion(stack)
    finally:
        _set_motion_s(stack, 0.3)


def _cancel_mid_motion(stack) -> None:
    states = stack.collect(Float64MultiArray, "/franka/ee_state")
    n_status = len(stack.status)
    handle, fbs = send(stack, image_goal(50))
    wait_until(lambda: len(fbs) >= 1, 30, "first feedback")
    # cancel in the middle of the next motion
    # status "executing" with no execute_ms yet = the delta was just sent to the bridge
    wait_until(
        lambda: any(
            s.state == "executing" and s.step == 1 and math.isnan(s.execute_ms)
            for s in stack.status[n_status:]
        ),
        30,
        "second motion",
    )
    time.sleep(0.1)
    res = stack.result(handle.cancel_goal_async(), 5, "cancel response")
    assert len(res.goals_canceling) == 1
    result = stack.result(handle.get_result_async(), 10, "canceled result")
    assert result.status == GoalStatus.STATUS_CANCELED
    last = executed(stack)[-1]
    assert last[0] == -1.0 and 0 < last[1] < 200  # the bridge stopped mid-motion
    time.sleep(0.1)
    a = np.array(states[-1].data)
    time.sleep(0.3)
    np.testing.assert_array_equal(np.array(states[-1].data), a)  # robot is still


def test_camera_stall_holds_and_resumes(stack) -> None:
    handle, fbs = send(stack, image_goal(4))
    wait_until(lambda: len(fbs) >= 1, 30, "first feedback")
    stack.call(SetBool, "/fake_cell/camera_enabled", SetBool.Request(data=False))
    try:
        wait_until(
            lambda: any(
                s.state == "holding" and "camera stale" in s.message for s in stack.status[-20:]
            ),
            10,
            "holding status",
        )
        n = len(executed(stack))
        steps = len(fbs)
        time.sleep(1.0)
        assert len(executed(stack)) == n and len(fbs) == steps  # sends nothing while held
    finally:
        stack.call(SetBool, "/fake_cell/camera_enabled", SetBool.Request(data=True))
    res = stack.result(handle.get_result_async(), 60, "result after resume")
    assert res.result.steps == 4 and [f.step for f in fbs] == [1, 2, 3, 4]


def test_malformed_frame_is_reported_not_a_crash(stack) -> None:
    stack.call(Trigger, "/fake_cell/malformed", Trigger.Request())

    def rejected() -> int:
        for d in reversed(stack.diag):
            for st in d.status:
                vals = {kv.key: kv.value for kv in st.values}
                if "frames_rejected" in vals:
                    return int(vals["frames_rejected"])
        return 0

    wait_until(lambda: rejected() >= 1, 5, "frames_rejected in diagnostics")
    assert all(p.poll() is None for p in stack.procs)
    assert "rejected camera frame" in (stack.tmp / "planner.log").read_text()


def test_interactive_marker_menu_sets_goal_and_plans(stack) -> None:
    r = stack.call(CaptureGoal, "/goals/capture", CaptureGoal.Request(name="cube_left"))
    assert r.success, r.message
    assert "cube_left" in stack.call(ListGoals, "/goals/list", ListGoals.Request()).names
    updates = stack.collect(InteractiveMarkerUpdate, "/goal_markers/update")
    active = stack.collect(String, "/goals/active_name", LATCHED_QOS)
    resp = stack.call(
        GetInteractiveMarkers,
        "/goal_markers/get_interactive_markers",
        GetInteractiveMarkers.Request(),
    )
    (marker,) = resp.markers
    titles = {e.title: e.id for e in marker.menu_entries}
    assert {"Set goal: cube_left", "Capture current view as goal", "Plan to goal", "Stop"} <= set(
        titles
    )
    wait_until(lambda: updates, 3, "keep-alive/update on the update topic")
    fb_pub = stack.node.create_publisher(InteractiveMarkerFeedback, "/goal_markers/feedback", 10)
    wait_until(lambda: fb_pub.get_subscription_count() > 0, 5, "feedback subscriber")

    def select(title: str) -> None:
        fb_pub.publish(
            InteractiveMarkerFeedback(
                client_id="/rviz/test",
                marker_name="goal_menu",
                control_name="menu",
                event_type=InteractiveMarkerFeedback.MENU_SELECT,
                menu_entry_id=titles[title],
            )
        )

    # move the robot away from the captured view so there is something to plan
    from vjepa2_interfaces.action import ExecuteDelta
    from vjepa2_interfaces.msg import EEDelta

    mover = ActionClient(stack.node, ExecuteDelta, "/franka/execute_delta")
    assert mover.wait_for_server(timeout_sec=5)
    h = stack.result(mover.send_goal_async(ExecuteDelta.Goal(delta=EEDelta(dx=0.12, dy=-0.1))))
    assert stack.result(h.get_result_async(), 10).result.success
    select("Set goal: cube_left")
    wait_until(lambda: active and active[-1].data == "cube_left", 5, "active goal")
    n_status = len(stack.status)
    n_exec = len(executed(stack))
    select("Plan to goal")
    wait_until(
        lambda: any(
            s.goal_name == "cube_left" and s.state == "executing" for s in stack.status[n_status:]
        ),
        20,
        lambda: f"planning to cube_left; status: {stack.status[n_status:]}",
    )
    select("Stop")
    wait_until(
        lambda: any(s.state == "canceled" for s in stack.status[n_status:]),
        10,
        "planner stopped by the Stop menu entry",
    )
    assert len(executed(stack)) > n_exec
    # the library change shows up as a new full UPDATE with the new menu
    assert any(
        u.type == InteractiveMarkerUpdate.UPDATE or u.type == InteractiveMarkerUpdate.KEEP_ALIVE
        for u in updates
    )


def test_bad_camera_topic_type_fails_at_startup_naming_it(stack) -> None:
    log = stack.tmp / "bad.log"
    p = start(
        "vjepa2_planner_node.planner_node",
        "-p",
        "camera_topic:=/planner/status",
        "-p",
        f"checkpoint:={stack.ckpt}",
        "-r",
        "__ns:=/bad",
        log=log,
    )
    try:
        rc = p.wait(timeout=40)
    finally:
        stop([p])
    text = log.read_text()
    assert rc == 2, text
    assert "parameter 'camera_topic'" in text


def test_twenty_concurrent_goals_all_answered(stack) -> None:
    """20 PlanToGoal requests at once: each gets a goal response and a result; one runs,
    the others end at once with a reason."""
    futs = [stack.plan.send_goal_async(image_goal(2)) for _ in range(20)]
    wait_until(
        lambda: all(f.done() for f in futs),
        30,
        lambda: f"{sum(f.done() for f in futs)}/20 goal responses",
    )
    handles = [f.result() for f in futs]
    results = [h.get_result_async() for h in handles if h.accepted]
    wait_until(
        lambda: all(r.done() for r in results),
        90,
        lambda: f"{sum(r.done() for r in results)}/{len(results)} results",
    )
    msgs = [r.result().result.message for r in results]
    ran = [r for r in results if r.result().result.steps > 0]
    assert len(ran) == 1, msgs
    others = [m for r, m in zip(results, msgs, strict=True) if r not in ran]
    assert len(others) + len(ran) + sum(not h.accepted for h in handles) == 20
    assert all("already planning" in m for m in others), others


def test_bridge_fault_fails_the_goal(stack) -> None:
    """A bridge reporting a fault on /franka/status fails the goal with its reason, also
    while the planner holds for stale inputs (it must not resume by itself later)."""
    stack.call(SetBool, "/fake_cell/fault", SetBool.Request(data=True))
    try:
        time.sleep(0.5)
        n = len(executed(stack))
        handle, _ = send(stack, image_goal(5))
        res = stack.result(handle.get_result_async(), 20, "result while faulted")
        assert res.status == GoalStatus.STATUS_ABORTED
        assert "bridge" in res.result.message and "robot unreachable" in res.result.message
        assert len(executed(stack)) == n  # nothing was sent
    finally:
        stack.call(SetBool, "/fake_cell/fault", SetBool.Request(data=False))
    stack.call(SetBool, "/fake_cell/camera_enabled", SetBool.Request(data=False))
    try:
        handle, _ = send(stack, image_goal(5))
        wait_until(lambda: any(s.state == "holding" for s in stack.status[-10:]), 10, "hold")
        stack.call(SetBool, "/fake_cell/fault", SetBool.Request(data=True))
        res = stack.result(handle.get_result_async(), 10, "result of a held goal on fault")
        assert res.status == GoalStatus.STATUS_ABORTED and "fault" in res.result.message
    finally:
        stack.call(SetBool, "/fake_cell/fault", SetBool.Request(data=False))
        stack.call(SetBool, "/fake_cell/camera_enabled", SetBool.Request(data=True))


def test_oversized_goal_image_named_error(stack) -> None:
    """A 1 x 65535 goal image is refused by name (image limits), not an empty abort."""
    img = np.zeros((1, 65535, 3), np.uint8)
    goal = PlanToGoal.Goal(
        goal_names=["wide"], goal_images=[array_to_image_msg(img)], step_budgets=[1]
    )
    handle, _ = send(stack, goal)
    res = stack.result(handle.get_result_async(), 20, "result of an oversized goal")
    assert res.status == GoalStatus.STATUS_ABORTED
    assert "image" in res.result.message and "65535" in res.result.message, res.result.message
