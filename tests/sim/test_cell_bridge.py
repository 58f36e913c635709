"""Acceptance tests: the real sim cell process + the real franka_bridge node over ROS 2.

One sim cell (franky-sim server + camera) and one bridge per module, on a random
loopback address and ROS domain (conftest).  Order matters only for the last test, which
kills and restarts the sim.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from .rosutil import SimCell, stop_process, wait_for

CAMERA_RATE = 4.0
CUBE_XY = (0.5, 0.0)
WS_MIN_Z = 0.015
MAX_STEP = 0.5  # m per delta (step clamping itself is unit-tested in test_safety)


SIM_PARAMS = {
    "camera_rate": CAMERA_RATE,
    "gt_rate": 20.0,
    "cube_pose": list(CUBE_XY),
    "cup_pose": [0.45, 0.25],
    "publish_clock": False,
}
BRIDGE_PARAMS = {
    "publish_rate": 50.0,
    "max_linear_vel": 0.6,
    "max_angular_vel": 1.2,
    "min_duration": 0.15,
    "max_translation": MAX_STEP,
    "command_timeout": 120.0,
    "workspace_min": [0.2, -0.45, WS_MIN_Z],
    "workspace_max": [0.8, 0.45, 0.7],
}


@pytest.fixture(scope="module")
def cell(tmp_path_factory: pytest.TempPathFactory):
    with SimCell(tmp_path_factory.mktemp("cell"), SIM_PARAMS, BRIDGE_PARAMS) as c:
        yield c


def test_translation_5cm_x(cell: SimCell) -> None:
    s0 = cell.node.fresh_state()
    r = cell.node.send([0.05, 0, 0, 0, 0, 0, 0])
    assert r.success, r.message
    s1 = cell.node.fresh_state(after=time.monotonic())
    assert s1[0] - s0[0] == pytest.approx(0.05, abs=0.005)
    assert np.abs(s1[1:3] - s0[1:3]).max() < 0.005
    np.testing.assert_allclose(r.state, s1, atol=2e-3)


def test_rotation_delta_rotates(cell: SimCell) -> None:
    s0 = cell.node.fresh_state()
    r = cell.node.send([0, 0, 0, 0, 0, 0.3, 0])
    assert r.success, r.message
    s1 = cell.node.fresh_state(after=time.monotonic())
    assert s1[5] - s0[5] == pytest.approx(0.3, abs=0.02)
    assert np.linalg.norm(s1[:3] - s0[:3]) < 0.005
    assert cell.node.send([0, 0, 0, 0, 0, -0.3, 0]).success


def test_out_of_workspace_is_clamped_and_robot_stays_in_box(cell: SimCell) -> None:
    n_events = len(cell.node.events)
    s0 = cell.node.fresh_state()
    r = cell.node.send([0.0, 0.0, -0.9, 0, 0, 0, 0])  # far below the table top
    assert r.success and r.clamped, r.message
    assert r.executed.dz == pytest.approx(WS_MIN_Z - s0[2], abs=0.003)  # clipped to the box
    s = cell.node.fresh_state(after=time.monotonic())
    assert s[2] == pytest.approx(WS_MIN_Z, abs=0.003)
    r = cell.node.send([0.0, 0.0, -0.1, 0, 0, 0, 0])  # keep pushing: stays at the floor
    assert r.success and r.clamped
    s = cell.node.fresh_state(after=time.monotonic())
    assert s[2] >= WS_MIN_Z - 0.003
    assert wait_for(lambda: len(cell.node.events) >= n_events + 2, 2.0)  # reported on topic
    r = cell.node.send([float("nan"), 0, 0, 0, 0, 0, 0])
    assert not r.success and "NaN" in r.message
    assert cell.node.send([0, 0, 0.25, 0, 0, 0, 0]).success


def _goto(cell: SimCell, xyz: tuple[float, float, float]) -> np.ndarray:
    for _ in range(6):
        s = cell.node.fresh_state(after=time.monotonic())
        d = np.asarray(xyz) - s[:3]
        if np.linalg.norm(d) < 0.003:
            return s
        assert cell.node.send([*d, 0, 0, 0, 0]).success
    return cell.node.fresh_state(after=time.monotonic())


def test_grasp_lifts_cube_and_releases(cell: SimCell) -> None:
    assert wait_for(lambda: cell.node.cube is not None, 5.0)
    p = cell.node.cube.pose.position
    z0 = p.z
    _goto(cell, (p.x, p.y, 0.10))
    _goto(cell, (p.x, p.y, 0.02))
    r = cell.node.send([0, 0, 0, 0, 0, 0, 1.0])
    assert r.success, r.message
    assert 0.3 < r.state[6] < 0.7  # fingers stopped on the 4 cm cube
    assert cell.node.send([0, 0, 0.12, 0, 0, 0, 0]).success
    time.sleep(0.3)
    assert cell.node.cube.pose.position.z > z0 + 0.09  # lifted with the hand
    r = cell.node.send([0, 0, 0, 0, 0, 0, -1.0])
    assert r.success and r.state[6] < 0.1
    assert wait_for(lambda: cell.node.cube.pose.position.z < z0 + 0.01, 3.0)  # released


def test_camera_rate_and_arm_visible(cell: SimCell) -> None:
    t0 = time.monotonic()
    assert wait_for(lambda: sum(t > t0 for t, _ in cell.node.images) >= 13, 6.0)
    stamps = [t for t, _ in cell.node.images if t > t0]
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert rate == pytest.approx(CAMERA_RATE, rel=0.25)
    msg = cell.node.images[-1][1]
    assert (msg.encoding, msg.width, msg.height) == ("rgb8", 256, 256)
    a = cell.node.image(after=time.monotonic())
    assert cell.node.send([0.0, 0.12, -0.1, 0, 0, 0, 0]).success
    b = cell.node.image(after=time.monotonic() + 0.15)
    changed = np.abs(a.astype(int) - b.astype(int)).sum(-1) > 30
    assert 0.005 < changed.mean() < 0.5  # the arm moved; the rest of the scene did not
    assert cell.node.send([0.0, -0.12, 0.1, 0, 0, 0, 0]).success


def test_stop_service_and_cancel_halt_motion(cell: SimCell) -> None:
    # A slow bridge (0.3 m take ~5.6 s): the stop must reach it mid-motion even when a
    # loaded CI machine delays the state topic and the service call by most of a second.
    stop_process(cell.bridge)
    cell.start_bridge(max_linear_vel=0.1)
    t_start = time.monotonic()
    assert wait_for(
        lambda: cell.node.status.startswith("ok") and cell.node.state_time > t_start, 60.0
    ), "slow bridge did not come up"
    # discover the stop service first, so the call below reaches the bridge mid-motion
    assert "not moving" in cell.node.call_trigger("/franka/stop", timeout=3.0, attempts=10).message
    r = cell.node.send([0.0, 0.0, 0.01, 0, 0, 0, 0])
    assert not r.success and "resume" in r.message  # stop latches, even when idle
    assert cell.node.call_trigger("/franka/resume", timeout=3.0, attempts=10).success
    s0 = cell.node.fresh_state()
    handle = cell.node.send([0.0, 0.0, 0.3, 0, 0, 0, 0], wait=False)
    assert wait_for(lambda: cell.node.fresh_state()[2] > s0[2] + 0.005, 20.0)  # moving
    resp = cell.node.call_trigger("/franka/stop")
    assert resp.success and "stopped" in resp.message
    res = handle.get_result_async()
    assert wait_for(res.done, 10.0)
    r = res.result().result
    assert not r.success and "stopped" in r.message
    moved = r.state[2] - s0[2]
    assert 0.0 < moved < 0.28  # halted short of the target
    time.sleep(0.3)
    s1 = cell.node.fresh_state(after=time.monotonic())
    assert abs(s1[2] - r.state[2]) < 0.003  # and stays there
    assert cell.node.call_trigger("/franka/resume").success
    handle = cell.node.send([0.0, 0.0, -0.3, 0, 0, 0, 0], wait=False)  # cancel = stop too
    assert wait_for(lambda: cell.node.fresh_state()[2] < s1[2] - 0.005, 20.0)
    cancel = handle.cancel_goal_async()
    assert wait_for(cancel.done, 10.0)
    res = handle.get_result_async()
    assert wait_for(res.done, 10.0)
    assert not res.result().result.success
    assert cell.node.fresh_state()[2] > s1[2] - 0.28
    assert cell.node.send([0.0, 0.0, 0.0, 0, 0, 0, 0]).success  # accepts commands again


def test_kill_sim_mid_motion_then_restart(cell: SimCell) -> None:
    handle = cell.node.send([0.0, 0.0, 0.1, 0, 0, 0, 0], wait=False)
    time.sleep(0.4)
    os.killpg(cell.sim.pid, signal.SIGKILL)
    cell.sim.wait(30)
    res = handle.get_result_async()
    assert wait_for(res.done, 15.0)
    r = res.result().result
    assert not r.success and "fault" in r.message
    assert wait_for(lambda: cell.node.status.startswith("fault"), 5.0)
    assert cell.bridge.poll() is None  # bridge still up
    r = cell.node.send([0.01, 0, 0, 0, 0, 0, 0])
    assert not r.success and "not available" in r.message  # refused while down
    cell.start_sim()
    assert wait_for(lambda: cell.node.status.startswith("ok"), 60.0), cell.node.status
    r = cell.node.send([0.02, 0, 0, 0, 0, 0, 0])
    assert r.success, r.message
    assert cell.bridge.poll() is None
