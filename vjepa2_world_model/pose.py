"""7-D end-effector states and actions (the V-JEPA 2-AC convention).

State: ``[x, y, z, rx, ry, rz, g]``: position (m, robot base frame), orientation as extrinsic
"xyz" Euler angles (rad; R = Rz(rz) @ Ry(ry) @ Rx(rx), scipy ``"xyz"``), gripper 0..1
(1 = closed).
Action: ``[dx, dy, dz, drx, dry, drz, dg]`` with ``dR = R_{t+1} @ R_t^T`` (base frame,
left-multiplied) as extrinsic xyz Euler angles. No normalisation.
Pose after an action: xyz add, ``R_new = dR @ R``, gripper clipped to [0, 1].

``apply_action`` / ``action_between`` dispatch on the argument type: torch tensors use the
batched torch implementation (planner; no autograd needed), numpy arrays / lists use scipy
``Rotation`` (data pipeline). Both broadcast over leading dims. The single-pose helpers at
the end (position + rotation matrix, used by the simulator, the libfranka driver and the
safety limits) are numpy only. torch is imported only by the torch functions, so the
simulator and the driver processes do not load it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial.transform import Rotation

if TYPE_CHECKING:
    from torch import Tensor

# ----------------------------------------------------------------------------- torch


def euler_xyz_to_matrix(euler: Tensor) -> Tensor:
    """(..., 3) extrinsic xyz Euler angles -> (..., 3, 3) rotation matrices."""
    import torch

    if euler.shape[-1] != 3:
        raise ValueError(f"euler must end in 3, got {tuple(euler.shape)}")
    cx, cy, cz = euler.cos().unbind(-1)
    sx, sy, sz = euler.sin().unbind(-1)
    rows = [
        cz * cy,
        cz * sy * sx - sz * cx,
        cz * sy * cx + sz * sx,
        sz * cy,
        sz * sy * sx + cz * cx,
        sz * sy * cx - cz * sx,
        -sy,
        cy * sx,
        cy * cx,
    ]
    return torch.stack(rows, -1).unflatten(-1, (3, 3))


def matrix_to_euler_xyz(m: Tensor) -> Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) extrinsic xyz Euler angles.

    Ranges as scipy: rx, rz in [-pi, pi], ry in [-pi/2, pi/2]; at gimbal lock
    (|cos ry| ~ 0) rx is set to 0 and rz absorbs the rotation.
    """
    if m.shape[-2:] != (3, 3):
        raise ValueError(f"rotation matrices must end in (3, 3), got {tuple(m.shape)}")
    import torch

    ry = torch.asin((-m[..., 2, 0]).clamp(-1.0, 1.0))
    cy = torch.sqrt(m[..., 0, 0] ** 2 + m[..., 1, 0] ** 2)
    lock = cy < 1e-6
    rx = torch.where(lock, torch.zeros_like(ry), torch.atan2(m[..., 2, 1], m[..., 2, 2]))
    rz = torch.where(
        lock, torch.atan2(-m[..., 0, 1], m[..., 1, 1]), torch.atan2(m[..., 1, 0], m[..., 0, 0])
    )
    return torch.stack([rx, ry, rz], -1)


def _check7(name: str, x: Tensor | np.ndarray) -> None:
    if x.shape[-1:] != (7,):
        raise ValueError(f"{name} must be 7-D (..., 7), got shape {tuple(x.shape)}")


def apply_action_torch(state: Tensor, action: Tensor) -> Tensor:
    """Batched next state (..., 7): xyz add, R = dR @ R, gripper clipped to [0, 1]."""
    import torch

    _check7("state", state)
    _check7("action", action)
    state, action = torch.broadcast_tensors(state, action)
    rot = euler_xyz_to_matrix(action[..., 3:6]) @ euler_xyz_to_matrix(state[..., 3:6])
    return torch.cat(
        [
            state[..., :3] + action[..., :3],
            matrix_to_euler_xyz(rot),
            (state[..., 6:] + action[..., 6:]).clamp(0.0, 1.0),
        ],
        -1,
    )


def action_between_torch(state_t: Tensor, state_t1: Tensor) -> Tensor:
    """Batched action (..., 7) taking state_t to state_t1 (rotation R_t1 @ R_t^T)."""
    import torch

    _check7("state_t", state_t)
    _check7("state_t1", state_t1)
    state_t, state_t1 = torch.broadcast_tensors(state_t, state_t1)
    d = euler_xyz_to_matrix(state_t1[..., 3:6]) @ euler_xyz_to_matrix(state_t[..., 3:6]).transpose(
        -1, -2
    )
    return torch.cat(
        [
            state_t1[..., :3] - state_t[..., :3],
            matrix_to_euler_xyz(d),
            state_t1[..., 6:] - state_t[..., 6:],
        ],
        -1,
    )


# ----------------------------------------------------------------------------- numpy


def _rot(euler: np.ndarray) -> Rotation:
    return Rotation.from_euler("xyz", euler.reshape(-1, 3))


def apply_action_np(state: np.ndarray, action: np.ndarray) -> np.ndarray:
    """numpy/scipy version of :func:`apply_action_torch` (float64)."""
    state, action = np.broadcast_arrays(
        np.asarray(state, np.float64), np.asarray(action, np.float64)
    )
    _check7("state", state)
    _check7("action", action)
    shape = state.shape
    s, a = state.reshape(-1, 7), action.reshape(-1, 7)
    euler = (_rot(a[:, 3:6]) * _rot(s[:, 3:6])).as_euler("xyz")
    out = np.concatenate([s[:, :3] + a[:, :3], euler, np.clip(s[:, 6:] + a[:, 6:], 0.0, 1.0)], 1)
    return out.reshape(shape)


def action_between_np(state_t: np.ndarray, state_t1: np.ndarray) -> np.ndarray:
    """numpy/scipy version of :func:`action_between_torch` (float64)."""
    s0, s1 = np.broadcast_arrays(np.asarray(state_t, np.float64), np.asarray(state_t1, np.float64))
    _check7("state_t", s0)
    _check7("state_t1", s1)
    shape = s0.shape
    a, b = s0.reshape(-1, 7), s1.reshape(-1, 7)
    euler = (_rot(b[:, 3:6]) * _rot(a[:, 3:6]).inv()).as_euler("xyz")
    out = np.concatenate([b[:, :3] - a[:, :3], euler, b[:, 6:] - a[:, 6:]], 1)
    return out.reshape(shape)


# ----------------------------------------------------------------------------- dispatch


def _is_tensor(*xs: object) -> bool:
    """True if any argument is a torch tensor (never imports torch itself)."""
    torch = sys.modules.get("torch")
    return torch is not None and any(isinstance(x, torch.Tensor) for x in xs)


def apply_action(state, action):
    """Next state; torch tensors -> torch (batched), anything else -> numpy/scipy."""
    if _is_tensor(state, action):
        import torch

        return apply_action_torch(torch.as_tensor(state), torch.as_tensor(action))
    return apply_action_np(state, action)


def action_between(state_t, state_t1):
    """Action from state_t to state_t1; torch tensors -> torch, else numpy/scipy."""
    if _is_tensor(state_t, state_t1):
        import torch

        return action_between_torch(torch.as_tensor(state_t), torch.as_tensor(state_t1))
    return action_between_np(state_t, state_t1)


# ----------------------------------------------------------------------------- one pose (numpy)


def as_vector7(value: object, name: str = "action") -> np.ndarray:
    """Return ``value`` as a finite float64 (7,) array or raise ValueError."""
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.shape != (7,):
        raise ValueError(f"{name} must have 7 values, got shape {np.shape(value)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf: {arr.tolist()}")
    return arr


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


def euler_to_rotvec(euler: np.ndarray) -> np.ndarray:
    """Extrinsic xyz Euler angles (3,) of an action's rotation -> rotation vector (3,)."""
    return Rotation.from_euler("xyz", np.asarray(euler, dtype=np.float64)).as_rotvec()


def rotvec_to_euler(rotvec: np.ndarray) -> np.ndarray:
    """Rotation vector (3,) -> extrinsic xyz Euler angles (3,) (inverse of euler_to_rotvec)."""
    return Rotation.from_rotvec(np.asarray(rotvec, dtype=np.float64)).as_euler("xyz")
