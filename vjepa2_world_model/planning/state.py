"""Roll the 7-D end-effector state forward under planned actions (torch, batched).

State: xyz (m), extrinsic "xyz" Euler angles (rad), gripper 0..1.
Action: dxyz, euler_xyz(R_{t+1} R_t^T), dgripper.
Pose after an action: xyz add, R_new = dR @ R, gripper clipped to [0, 1]
(``vjepa2_world_model.pose.apply_action_torch``). On top of that, a step whose rotation
delta is exactly zero (the default planner never searches rotation) keeps the Euler angles
bit-identical: no matrix round trip, so a roll of +pi never flips to -pi in the state token.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vjepa2_world_model.pose import apply_action_torch


def apply_action(state: Tensor, action: Tensor) -> Tensor:
    """State (..., 7) after action (..., 7); broadcasts; exact for zero rotation deltas."""
    if state.shape[-1] != 7 or action.shape[-1] != 7:
        raise ValueError(
            f"state and action must be 7-D, got {tuple(state.shape)}, {tuple(action.shape)}"
        )
    state, action = torch.broadcast_tensors(state, action)
    new = apply_action_torch(state, action).to(state.dtype)
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
