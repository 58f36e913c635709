"""Fast tests of the bridge's motion profile and refusal logic (no robot, no ROS)."""

from __future__ import annotations

import numpy as np
import pytest

from vjepa2_world_model.robot.franka_control import (
    FrankaController,
    MotionLimits,
    _s_at,
    _sdot,
)


def test_min_jerk_profile_is_smooth_and_speed_limited() -> None:
    lim = MotionLimits(max_linear_vel=0.15, max_angular_vel=0.6, min_duration=0.3)
    dist, angle = 0.1, 0.2
    T = lim.duration(dist, angle)
    assert _s_at(0.0, T) == 0.0 and _s_at(T, T) == pytest.approx(1.0)
    assert _sdot(0.0, T) == 0.0 and _sdot(T, T) == pytest.approx(0.0)
    ts = np.linspace(0, T, 2001)
    s = np.array([_s_at(t, T) for t in ts])
    v = np.gradient(s, ts)
    np.testing.assert_allclose(v, [_sdot(t, T) for t in ts], atol=1e-2)
    assert (v * dist).max() <= lim.max_linear_vel * 1.001
    assert (v * angle).max() <= lim.max_angular_vel * 1.001
    assert np.all(np.diff(s) >= -1e-12)
    assert lim.duration(0.0, 0.0) == lim.min_duration


def test_controller_refuses_when_not_connected() -> None:
    c = FrankaController("127.0.0.1")  # never started: no robot
    r = c.execute([0.01, 0, 0, 0, 0, 0, 0])
    assert not r.success and r.rejected and "not available" in r.message
    assert c.events and "refused" in c.events[-1]
    assert not c.connected and c.fault
