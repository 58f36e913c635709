"""7-D end-effector state helpers (numpy + scipy), per docs/vjepa2-facts "States and actions".

state7 = [x, y, z (m, robot base frame), roll, pitch, yaw (extrinsic xyz Euler, rad),
gripper 0..1 (1 = closed)]. action7 = [dx, dy, dz, euler_xyz(R_new R_old^T), dgripper].
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

FRANKA_HAND_MAX_WIDTH = 0.08


def as_vector7(value: object, name: str = "action") -> np.ndarray:
    """Return ``value`` as a finite float64 (7,) array or raise ValueError."""
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.shape != (7,):
        raise ValueError(f"{name} must have 7 values, got shape {np.shape(value)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf: {arr.tolist()}")
    return arr


def gripper_closure(width: float, max_width: float = FRANKA_HAND_MAX_WIDTH) -> float:
    """Finger width (m) -> closure 0..1 (1 = closed)."""
    return float(np.clip(1.0 - width / max_width, 0.0, 1.0))


def state7_from_pose(pos: np.ndarray, rot: np.ndarray, closure: float) -> np.ndarray:
    """Position (3,), rotation matrix (3,3) and gripper closure -> state7."""
    euler = Rotation.from_matrix(np.asarray(rot)).as_euler("xyz")
    return np.concatenate([np.asarray(pos, dtype=np.float64), euler, [closure]])


def pose_from_state7(state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """state7 -> (position (3,), rotation matrix (3,3))."""
    state = np.asarray(state, dtype=np.float64)
    return state[:3].copy(), Rotation.from_euler("xyz", state[3:6]).as_matrix()


def apply_delta(
    pos: np.ndarray, rot: np.ndarray, action: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Target pose after ``action`` (xyz add, R_new = dR @ R)."""
    d_rot = Rotation.from_euler("xyz", action[3:6]).as_matrix()
    return np.asarray(pos) + action[:3], d_rot @ np.asarray(rot)


def rotation_angle(rot_a: np.ndarray, rot_b: np.ndarray) -> float:
    """Angle (rad) of the rotation taking ``rot_a`` to ``rot_b``."""
    return float(np.linalg.norm(Rotation.from_matrix(rot_b @ rot_a.T).as_rotvec()))


def min_jerk(s: float) -> float:
    """Minimum-jerk time scaling 0..1 -> 0..1 (zero velocity and acceleration at both ends)."""
    s = min(max(s, 0.0), 1.0)
    return s**3 * (10.0 - 15.0 * s + 6.0 * s * s)


def gripper_command(dgripper: float, threshold: float = 0.2) -> str | None:
    """Gripper channel of a delta -> "close", "open" or None (keep).

    Deltas above +threshold close (grasp), below -threshold open; measured closure
    jumps by ~+0.5 (4 cm cube) or +1 (empty) on a grasp, so recorded data maps back.
    """
    if dgripper > threshold:
        return "close"
    if dgripper < -threshold:
        return "open"
    return None
