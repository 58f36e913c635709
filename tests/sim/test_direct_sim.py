"""Direct-stepping simulator: motion accuracy, physics grasp, rendering, resets."""

from __future__ import annotations

import numpy as np
import pytest

from vjepa2_world_model.sim import DirectSim


@pytest.fixture(scope="module")
def sim() -> DirectSim:
    s = DirectSim()
    yield s
    s.close()


def test_reset_state_and_objects(sim: DirectSim) -> None:
    s = sim.reset(seed=3)
    assert s.shape == (7,) and np.all(np.isfinite(s))
    assert s[6] < 0.05  # gripper open
    poses = sim.object_poses()
    assert set(poses) == {"cube", "cup"}
    a = sim.object_poses()
    sim.reset(seed=3)
    for name in poses:  # same seed -> same placement
        np.testing.assert_allclose(sim.object_poses()[name][:3], a[name][:3], atol=1e-6)
    sim.reset(seed=4)
    assert np.linalg.norm(sim.object_poses()["cube"][:2] - a["cube"][:2]) > 1e-3
    sim.reset(object_poses={"cube": [0.45, -0.1], "cup": [0.55, 0.15, 0.0]})
    np.testing.assert_allclose(sim.object_poses()["cube"][:2], [0.45, -0.1], atol=2e-3)
    np.testing.assert_allclose(sim.object_poses()["cup"][:2], [0.55, 0.15], atol=2e-3)
    with pytest.raises(ValueError):
        sim.reset(object_poses={"ball": [0.4, 0.0]})


def test_translation_and_rotation_accuracy(sim: DirectSim) -> None:
    s0 = sim.reset(seed=0)
    s1 = sim.move_ee_delta([0.05, 0, 0, 0, 0, 0, 0])
    assert s1[0] - s0[0] == pytest.approx(0.05, abs=0.002)
    assert np.abs(s1[1:3] - s0[1:3]).max() < 0.002
    s2 = sim.move_ee_delta([0, 0, 0, 0, 0, 0.3, 0])
    assert s2[5] - s1[5] == pytest.approx(0.3, abs=0.01)
    assert np.linalg.norm(s2[:3] - s1[:3]) < 0.002


def test_invalid_action_raises(sim: DirectSim) -> None:
    with pytest.raises(ValueError):
        sim.move_ee_delta([0, 0, np.nan, 0, 0, 0, 0])
    with pytest.raises(ValueError):
        sim.move_ee_delta([0, 0, 0])


def test_workspace_clamp_keeps_tcp_above_table(sim: DirectSim) -> None:
    sim.reset(seed=0)
    for _ in range(6):
        sim.move_ee_delta([0, 0, -0.15, 0, 0, 0, 0])
    s = sim.ee_state7()
    assert s[2] >= sim.safety.workspace_min[2] - 0.003
    assert sim.last_result.clamped


def _goto(sim: DirectSim, xyz: np.ndarray) -> None:
    for _ in range(6):
        d = np.asarray(xyz) - sim.ee_state7()[:3]
        if np.linalg.norm(d) < 0.002:
            return
        sim.move_ee_delta([*d, 0, 0, 0, 0])


def test_grasp_lift_release(sim: DirectSim) -> None:
    sim.reset(object_poses={"cube": [0.5, 0.0], "cup": [0.5, 0.2]})
    cube = sim.object_poses()["cube"]
    _goto(sim, [cube[0], cube[1], 0.12])
    _goto(sim, [cube[0], cube[1], 0.02])
    s = sim.move_ee_delta([0, 0, 0, 0, 0, 0, 1.0])
    assert 0.35 < s[6] < 0.65  # fingers stopped on the 4 cm cube
    sim.move_ee_delta([0, 0, 0.12, 0, 0, 0, 0])
    lifted = sim.object_poses()["cube"]
    assert lifted[2] > cube[2] + 0.1
    s = sim.move_ee_delta([0, 0, 0, 0, 0, 0, -1.0])
    assert s[6] < 0.05
    sim.step(0.5)
    assert sim.object_poses()["cube"][2] < cube[2] + 0.01  # fell back to the table


def test_render_shows_arm_motion(sim: DirectSim) -> None:
    sim.reset(seed=0)
    a = sim.render(256, 256)
    assert a.shape == (256, 256, 3) and a.dtype == np.uint8
    assert a.std() > 10  # not a blank frame
    sim.move_ee_delta([0.1, 0.1, -0.1, 0, 0, 0, 0])
    b = sim.render(256, 256)
    diff = np.abs(a.astype(int) - b.astype(int)).sum(-1) > 30
    assert 0.005 < diff.mean() < 0.5  # the arm moved, the scene did not all change
    assert sim.render(128, 96).shape == (96, 128, 3)
