"""Roll the 7-D end-effector state forward under planned actions (torch, batched).

State: xyz (m), extrinsic "xyz" Euler angles (rad), gripper 0..1.
Action: dxyz, euler_xyz(R_{t+1} R_t^T), dgripper.
Pose after an action: xyz add, R_new = dR @ R, gripper clipped to [0, 1].

Uses ``vjepa2_world_model.pose.apply_action`` when it exists; the local fallback below
implements the same maths. Either way, a step whose rotation delta is exactly zero keeps
the Euler angles bit-identical (no matrix round trip, so roll = +pi never flips to -pi).
"""

from __future__ import annotations

import torch
from torch import Tensor


def euler_xyz_to_matrix(euler: Tensor) -> Tensor:
    """Extrinsic xyz Euler angles (..., 3) -> rotation matrices (..., 3, 3): Rz @ Ry @ Rx."""
    a, b, c = euler.unbind(-1)
    ca, sa, cb, sb, cc, sc = a.cos(), a.sin(), b.cos(), b.sin(), c.cos(), c.sin()
    row0 = torch.stack([cc * cb, cc * sb * sa - sc * ca, cc * sb * ca + sc * sa], -1)
    row1 = torch.stack([sc * cb, sc * sb * sa + cc * ca, sc * sb * ca - cc * sa], -1)
    row2 = torch.stack([-sb, cb * sa, cb * ca], -1)
    return torch.stack([row0, row1, row2], -2)


def matrix_to_euler_xyz(rot: Tensor) -> Tensor:
    """Rotation matrices (..., 3, 3) -> extrinsic xyz Euler angles (..., 3).

    At gimbal lock (|pitch| = pi/2) the roll angle is set to 0, like scipy.
    """
    r20 = rot[..., 2, 0].clamp(-1.0, 1.0)
    cb = torch.sqrt(rot[..., 0, 0] ** 2 + rot[..., 1, 0] ** 2)
    pitch = torch.atan2(-r20, cb)
    lock = cb < 1e-6
    roll = torch.where(lock, torch.zeros_like(pitch), torch.atan2(rot[..., 2, 1], rot[..., 2, 2]))
    yaw_free = torch.atan2(rot[..., 1, 0], rot[..., 0, 0])
    # gimbal lock: roll := 0, the whole in-plane rotation goes to yaw
    yaw_lock = torch.atan2(-rot[..., 0, 1], rot[..., 1, 1])
    yaw = torch.where(lock, yaw_lock, yaw_free)
    return torch.stack([roll, pitch, yaw], -1)


def _apply_action_local(state: Tensor, action: Tensor) -> Tensor:
    xyz = state[..., :3] + action[..., :3]
    rot = euler_xyz_to_matrix(action[..., 3:6]) @ euler_xyz_to_matrix(state[..., 3:6])
    euler = matrix_to_euler_xyz(rot)
    grip = (state[..., 6:7] + action[..., 6:7]).clamp(0.0, 1.0)
    return torch.cat([xyz, euler, grip], -1)


def _pose_apply_action():
    try:  # the MODELS dev's shared implementation, once it exists
        from vjepa2_world_model.pose import apply_action  # type: ignore[attr-defined]
    except ImportError:
        return None
    return apply_action


def apply_action(state: Tensor, action: Tensor) -> Tensor:
    """State (..., 7) after action (..., 7); broadcasts; exact for zero rotation deltas."""
    if state.shape[-1] != 7 or action.shape[-1] != 7:
        raise ValueError(f"state and action must be 7-D, got {tuple(state.shape)}, "
                         f"{tuple(action.shape)}")
    state, action = torch.broadcast_tensors(state, action)
    fn = _pose_apply_action()
    new = fn(state, action) if fn is not None else _apply_action_local(state, action)
    new = new.to(state.dtype)
    rot_zero = (action[..., 3:6] == 0).all(-1, keepdim=True)
    euler = torch.where(rot_zero, state[..., 3:6], new[..., 3:6])
    return torch.cat([new[..., :3], euler, new[..., 6:7]], -1)


def roll_states(s0: Tensor, actions: Tensor) -> Tensor:
    """States fed to the predictor at each planned step.

    s0 (7,) or (S, 7), actions (S, H, 7) -> (S, H + 1, 7): s_0 .. s_H, where s_{h+1} is
    s_h after actions[:, h]. Step h of the rollout uses s_h as its state token.
    """
    if actions.dim() != 3 or actions.shape[-1] != 7:
        raise ValueError(f"actions must be (S, H, 7), got {tuple(actions.shape)}")
    s = s0.to(actions.dtype).expand(actions.shape[0], 7)
    out = [s]
    for h in range(actions.shape[1]):
        s = apply_action(s, actions[:, h])
        out.append(s)
    return torch.stack(out, 1)
