import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from calibration.action_axes import fit_axis_rotation


def test_recovers_camera_yaw_from_noisy_pairs() -> None:
    rng = np.random.default_rng(0)
    true = rng.uniform(-0.05, 0.05, size=(40, 3))
    camera = Rotation.from_euler("z", 30, degrees=True)  # model sees axes rotated by 30 deg
    inferred = camera.inv().apply(true) + rng.normal(0, 0.002, size=true.shape)
    cal = fit_axis_rotation(true, inferred)
    assert abs(cal.angle_deg - 30.0) < 2.0
    assert cal.rms_after < 0.3 * cal.rms_before
    action = np.array([0.05, 0, 0, 0, 0, 0, 0.5])
    fixed = cal.apply(camera.inv().apply(action[:3]).tolist() + [0, 0, 0, 0.5])
    np.testing.assert_allclose(fixed[:3], action[:3], atol=0.005)
    assert fixed[6] == 0.5


def test_rejects_degenerate_and_bad_input() -> None:
    with pytest.raises(ValueError, match="fewer than 2 directions"):
        fit_axis_rotation(np.ones((5, 3)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        fit_axis_rotation(np.full((3, 3), np.nan), np.eye(3))
    with pytest.raises(ValueError, match="equal shape"):
        fit_axis_rotation(np.eye(3), np.eye(4)[:, :3])
