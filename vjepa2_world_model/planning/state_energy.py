"""State term of the planning energy: visual L1 + alpha * state distance.

DINO-WM and JEPA-WMs add a proprioceptive distance to the planning cost. Here the goal
is an image, so its state is estimated from the goal image's features by a readout head
(``models.readout.StateReadout``); the planned state is the measured current state rolled
forward under the candidate actions (``state.roll_states``, exact pose maths). alpha = 0
is the paper's pure visual energy.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from vjepa2_world_model.models.readout import state_difference

from .state import roll_states

DEFAULT_DIMS = (0, 1, 2, 6)  # xyz + gripper: the planner searches these, not rotation


class StateEnergy:
    """alpha * sum over ``dims`` of |planned final state - readout(goal features)|."""

    def __init__(
        self, readout: nn.Module, alpha: float, dims: Sequence[int] = DEFAULT_DIMS
    ) -> None:
        if not alpha >= 0:
            raise ValueError(f"state energy alpha must be >= 0, got {alpha}")
        if not dims or any(d not in range(7) for d in dims):
            raise ValueError(f"state energy dims must be a non-empty subset of 0..6: {dims}")
        self.readout = readout.eval()
        self.alpha = float(alpha)
        self.dims = list(dims)
        self.goal_state: Tensor | None = None

    @torch.no_grad()
    def set_goal(self, z_goal: Tensor) -> Tensor:
        """Estimate the goal's 7-D state from its features (N, E); kept for __call__."""
        p = next(self.readout.parameters())
        self.goal_state = self.readout(z_goal.to(p.device, torch.float32)).float().cpu()
        return self.goal_state

    def distance(self, s0: Tensor, actions: Tensor) -> Tensor:
        """L1 distance (S,) of the state after actions (S, H, 7) from the goal state."""
        if self.goal_state is None:
            raise ValueError("state energy has no goal: call set_goal first")
        final = roll_states(s0.float().cpu(), actions.float().cpu())[:, -1]
        return state_difference(final, self.goal_state)[:, self.dims].abs().sum(-1)

    def __call__(self, s0: Tensor, actions: Tensor) -> Tensor:
        """alpha * distance, on the actions' device."""
        return (self.alpha * self.distance(s0, actions)).to(actions.device)
