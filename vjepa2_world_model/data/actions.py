"""7-D actions from consecutive 7-D states (facts "States and actions").

action_t = [xyz_{t+1} - xyz_t, euler_xyz(R_{t+1} R_t^T), grip_{t+1} - grip_t].
Uses ``vjepa2_world_model.pose.action_between_np`` when available, else scipy directly.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def _scipy_actions(states: np.ndarray) -> np.ndarray:
    s0, s1 = states[:-1], states[1:]
    r0 = Rotation.from_euler("xyz", s0[:, 3:6])
    r1 = Rotation.from_euler("xyz", s1[:, 3:6])
    d_rot = (r1 * r0.inv()).as_euler("xyz")
    return np.concatenate([s1[:, :3] - s0[:, :3], d_rot, s1[:, 6:7] - s0[:, 6:7]], axis=1)


def actions_from_states(states: np.ndarray) -> np.ndarray:
    """(T, 7) states -> (T-1, 7) actions (float64)."""
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 2 or states.shape[1] != 7:
        raise ValueError(f"states must be (T, 7), got {states.shape}")
    if len(states) < 2:
        return np.zeros((0, 7))
    try:
        from vjepa2_world_model.pose import action_between_np
    except ImportError:
        return _scipy_actions(states)
    try:
        out = np.asarray(action_between_np(states[:-1], states[1:]), dtype=np.float64)
        if out.shape == (len(states) - 1, 7):
            return out
    except (TypeError, ValueError):
        pass
    return _scipy_actions(states)
