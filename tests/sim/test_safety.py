"""Unit tests for vjepa2_world_model.robot.safety (no sim, no ROS)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vjepa2_world_model.robot.safety import SafetyLimits

STATE = np.array([0.4, 0.0, 0.3, math.pi, 0.0, 0.0, 0.0])


def test_accepts_small_delta_unchanged() -> None:
    d = SafetyLimits().check(STATE, [0.02, -0.01, 0.01, 0.0, 0.0, 0.1, 1.0])
    assert d.accepted and not d.clamped
    np.testing.assert_allclose(d.action, [0.02, -0.01, 0.01, 0.0, 0.0, 0.1, 1.0])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_rejects_non_finite(bad: float) -> None:
    for mode in ("clamp", "reject"):
        d = SafetyLimits(mode=mode).check(STATE, [0.0, bad, 0.0, 0.0, 0.0, 0.0, 0.0])
        assert not d.accepted and d.action is None
        assert "NaN" in d.message


def test_rejects_wrong_length_and_bad_state() -> None:
    assert not SafetyLimits().check(STATE, [0.0] * 6).accepted
    assert not SafetyLimits().check([np.nan] * 7, [0.0] * 7).accepted


def test_clamp_workspace_min_height() -> None:
    lim = SafetyLimits(workspace_min=(0.2, -0.4, 0.02), workspace_max=(0.8, 0.4, 0.6))
    d = lim.check(STATE, [0.0, 0.0, -0.12, 0, 0, 0, 0])
    assert d.accepted and not d.clamped  # 0.3 - 0.12 is still inside
    d = lim.check(np.r_[0.4, 0.0, 0.05, STATE[3:]], [0.0, 0.0, -0.1, 0, 0, 0, 0])
    assert d.accepted and d.clamped
    assert 0.05 + d.action[2] == pytest.approx(0.02)
    assert "outside workspace" in d.message


def test_reject_mode_rejects_outside_box() -> None:
    lim = SafetyLimits(mode="reject")
    d = lim.check(np.r_[0.75, 0.0, 0.3, STATE[3:]], [0.1, 0.0, 0.0, 0, 0, 0, 0])
    assert not d.accepted and "outside workspace" in d.message


def test_step_size_scaled_and_rejected() -> None:
    d = SafetyLimits(max_translation=0.05).check(STATE, [0.1, 0.0, 0.0, 0, 0, 0, 0])
    assert d.accepted and d.clamped
    assert np.linalg.norm(d.action[:3]) == pytest.approx(0.05)
    d = SafetyLimits(max_rotation=0.2).check(STATE, [0, 0, 0, 0.0, 0.0, 0.5, 0])
    assert d.accepted and d.clamped and d.action[5] == pytest.approx(0.2)
    d = SafetyLimits(max_translation=0.05, mode="reject").check(STATE, [0.1, 0, 0, 0, 0, 0, 0])
    assert not d.accepted and "max step" in d.message


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        SafetyLimits(mode="ignore")
    with pytest.raises(ValueError):
        SafetyLimits(workspace_min=(1, 0, 0), workspace_max=(0, 1, 1))
    lim = SafetyLimits.from_dict({"workspace_min": [0.1, -0.2, 0.0], "mode": "reject", "x": 1})
    assert lim.workspace_min == (0.1, -0.2, 0.0) and lim.mode == "reject"
