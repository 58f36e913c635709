"""7-D state/action maths: torch (batched) vs scipy Rotation, inverses, conventions."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from vjepa2_world_model.pose import (
    action_between,
    action_between_np,
    apply_action,
    apply_action_np,
    euler_xyz_to_matrix,
    matrix_to_euler_xyz,
)


def _states(n, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [
            rng.normal(size=(n, 3)) * 0.3,
            rng.uniform(-math.pi, math.pi, (n, 1)),
            rng.uniform(-1.4, 1.4, (n, 1)),
            rng.uniform(-math.pi, math.pi, (n, 1)),
            rng.uniform(0, 1, (n, 1)),
        ],
        1,
    )


def _actions(n, seed=1):
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [
            rng.normal(size=(n, 3)) * 0.05,
            rng.normal(size=(n, 3)) * 0.3,
            rng.normal(size=(n, 1)) * 0.6,
        ],
        1,
    )


def test_euler_matrix_matches_scipy():
    e = _states(200)[:, 3:6]
    m = euler_xyz_to_matrix(torch.tensor(e))
    np.testing.assert_allclose(m.numpy(), Rotation.from_euler("xyz", e).as_matrix(), atol=1e-12)
    back = matrix_to_euler_xyz(m).numpy()
    np.testing.assert_allclose(back, Rotation.from_matrix(m.numpy()).as_euler("xyz"), atol=1e-9)
    # gimbal lock: still a valid decomposition of the same rotation
    lock = torch.tensor([[0.3, math.pi / 2, -0.2]], dtype=torch.float64)
    ml = euler_xyz_to_matrix(lock)
    torch.testing.assert_close(euler_xyz_to_matrix(matrix_to_euler_xyz(ml)), ml)


def test_apply_action_torch_equals_scipy():
    s, a = _states(300), _actions(300)
    out_np = apply_action_np(s, a)
    out_t = apply_action(torch.tensor(s), torch.tensor(a))
    assert isinstance(out_t, torch.Tensor) and isinstance(apply_action(s, a), np.ndarray)
    np.testing.assert_allclose(out_t.numpy(), out_np, atol=1e-9)
    # convention: R_new = dR @ R (left-multiplied, base frame), xyz add, gripper clipped
    r_new = Rotation.from_euler("xyz", a[:, 3:6]) * Rotation.from_euler("xyz", s[:, 3:6])
    np.testing.assert_allclose(
        Rotation.from_euler("xyz", out_np[:, 3:6]).as_matrix(), r_new.as_matrix(), atol=1e-12
    )
    np.testing.assert_allclose(out_np[:, :3], s[:, :3] + a[:, :3])
    assert out_np[:, 6].min() >= 0.0 and out_np[:, 6].max() <= 1.0
    assert (out_np[:, 6] == 1.0).any() and (out_np[:, 6] == 0.0).any()


def test_action_between_inverts_apply_action():
    s, a = _states(300, 3), _actions(300, 4)
    a[:, 6] = 0.0  # no clipping
    s1 = apply_action_np(s, a)
    back = action_between_np(s, s1)
    np.testing.assert_allclose(back, a, atol=1e-9)
    bt = action_between(torch.tensor(s), torch.tensor(s1)).numpy()
    np.testing.assert_allclose(bt, back, atol=1e-9)
    # consecutive-state form used by the data pipeline: (T-1, 7) from (T, 7)
    traj = _states(10, 7)
    acts = action_between(traj[:-1], traj[1:])
    assert acts.shape == (9, 7)
    np.testing.assert_allclose(apply_action_np(traj[:-1], acts)[:, :6], traj[1:, :6], atol=1e-9)


def test_batched_broadcast_float32():
    s = torch.tensor(_states(1)[0], dtype=torch.float32)
    a = torch.tensor(_actions(16), dtype=torch.float32)
    out = apply_action(s, a)
    assert out.shape == (16, 7) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), apply_action_np(s.numpy(), a.numpy()), atol=1e-5)


@pytest.mark.parametrize("fn", [apply_action, action_between])
def test_wrong_width_raises(fn):
    with pytest.raises(ValueError, match="7-D"):
        fn(torch.zeros(3, 7), torch.zeros(3, 6))
    with pytest.raises(ValueError, match="7-D"):
        fn(np.zeros((3, 8)), np.zeros((3, 8)))
