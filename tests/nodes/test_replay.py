"""Replay tests: the sim-cell fixture bag replayed into a live planner_node (world model +
planner, same random-init tiny weights and seed) reproduces the recorded deltas; a bag
with a malformed frame or a camera gap gives a reported fault, not a crash."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from vjepa2_interfaces.action import PlanToGoal
from vjepa2_interfaces.msg import PlannerStatus

from vjepa2_planner_node.bag_tools import read_bag, replay, replay_closed_loop, typestore
from vjepa2_planner_node.goal_library import GoalLibrary
from vjepa2_planner_node.image_codec import array_to_image_msg
from vjepa2_planner_node.ros_common import ActionClient

from .make_replay_fixture import FIXTURES, weights_hash
from .rosproc import Client, start, stop

BAG = FIXTURES / "replay_sim"
META = json.loads((FIXTURES / "replay_sim.json").read_text())


@pytest.fixture(scope="module")
def live(tmp_path_factory, tiny_checkpoint):
    assert weights_hash(Path(tiny_checkpoint)) == META["weights_sha256"], (
        "tiny weights changed since the fixture was recorded: "
        "re-run python -m tests.nodes.make_replay_fixture"
    )
    tmp = tmp_path_factory.mktemp("replay")
    p = start(
        "vjepa2_planner_node.planner_node",
        "-p",
        f"checkpoint:={tiny_checkpoint}",
        "-p",
        f"goals_dir:={tmp / 'goals'}",
        *META["planner_args"],
        log=tmp / "planner.log",
    )
    c = Client("replay_client")
    c.tmp, c.proc = tmp, p
    c.plan = ActionClient(c.node, PlanToGoal, "/planner/plan_to_goal")
    c.status = c.collect(PlannerStatus, "/planner/status")
    c.diag = c.collect(DiagnosticArray, "/diagnostics")
    try:
        assert c.plan.wait_for_server(timeout_sec=90), (tmp / "planner.log").read_text()
        yield c
    finally:
        c.close()
        stop([p])


def goal_request(steps: int) -> PlanToGoal.Goal:
    img = GoalLibrary(FIXTURES).load("replay_sim_goal")
    return PlanToGoal.Goal(
        goal_names=["start"],
        goal_images=[array_to_image_msg(img)],
        step_budgets=[steps],
        energy_threshold=1e-9,
    )


def test_replay_reproduces_recorded_deltas(live) -> None:
    results: list = []

    def start_goal() -> None:
        fut = live.plan.send_goal_async(goal_request(META["steps"]))
        fut.add_done_callback(lambda f: results.append(f.result().get_result_async()))

    recorded, replayed = replay_closed_loop(BAG, live.node, start_goal)
    assert len(recorded) == META["steps"] and len(replayed) == len(recorded)
    np.testing.assert_allclose(np.array(replayed), np.array(recorded), atol=2e-3)
    res = live.result(results[0], 30, "result")
    assert res.result.steps == META["steps"]


def _write_bag(path: Path, msgs: list) -> None:
    from rosbags.rosbag2 import StoragePlugin, Writer

    ts = typestore()
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conns = {}
        for tp, t, stamp, raw in msgs:
            if tp not in conns:
                conns[tp] = w.add_connection(tp, t, typestore=ts)
            w.write(conns[tp], stamp, raw)


def test_malformed_frame_and_camera_gap_are_reported(live, tmp_path) -> None:
    """Camera+state replayed open loop; a truncated frame and a 2.5 s camera gap."""
    ts = typestore()
    msgs = [m for m in read_bag(BAG) if m[0] in ("/camera/image_raw", "/franka/ee_state")]
    t0 = msgs[0][2]
    out = []
    frames = 0
    for tp, t, stamp, raw in msgs:
        rel = (stamp - t0) * 1e-9
        if tp == "/camera/image_raw":
            frames += 1
            if 4.0 <= rel < 6.5:
                continue  # camera gap
            if frames == 3:  # malformed: data cut short
                img = ts.deserialize_cdr(raw, t)
                img.data = img.data[:100]
                raw = bytes(ts.serialize_cdr(img, t))
        out.append((tp, t, stamp, raw))
    bag = tmp_path / "faulty"
    _write_bag(bag, [m for m in out if (m[2] - t0) * 1e-9 < 9.0])

    # a plan request is running against a stand-in bridge that succeeds at once
    from rclpy.action import ActionServer
    from rclpy.callback_groups import ReentrantCallbackGroup
    from vjepa2_interfaces.action import ExecuteDelta

    def execute(gh):
        gh.succeed()
        return ExecuteDelta.Result(success=True)

    server = ActionServer(
        live.node,
        ExecuteDelta,
        "/franka/execute_delta",
        execute,
        callback_group=ReentrantCallbackGroup(),
    )
    n = len(live.status)
    handle = live.result(live.plan.send_goal_async(goal_request(50)), 10, "goal")
    replay(bag, node=live.node, start_delay=0.5, wait_subscribers=0.0)
    holding = [s for s in live.status[n:] if s.state == "holding"]
    assert any("camera stale" in s.message for s in holding), [s.message for s in holding]
    rejected = 0
    for d in live.diag:
        for st in d.status:
            vals = {kv.key: kv.value for kv in st.values}
            rejected = max(rejected, int(vals.get("frames_rejected", 0)))
    assert rejected >= 1
    assert live.proc.poll() is None  # no crash
    steps_before_gap = [s.step for s in live.status[n:] if s.state == "holding"]
    assert steps_before_gap and max(s.step for s in live.status[n:]) > steps_before_gap[0]
    live.result(handle.cancel_goal_async(), 5, "cancel")
    time.sleep(0.5)
    server.destroy()
    assert live.proc.poll() is None
