"""A synthetic world model with an analytic optimum, for tests and demos without weights.

Features are a fixed random linear function of the rolled-forward pose:
``features(s) = (s * scale) @ W + b`` reshaped to (N, E). The goal features of a goal
state s_g make s_g the unique energy minimum (LN removes only mean and scale, which a
generic W cannot reproduce), so the optimal first action is known in closed form.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .state import roll_states
from .world_model import _check


class LinearPoseWorldModel:
    """WorldModel whose prediction of frame h+1 is features(state after h+1 actions)."""

    def __init__(
        self,
        num_tokens: int = 16,
        dim: int = 32,
        seed: int = 0,
        scale: tuple[float, ...] = (10, 10, 10, 3, 3, 3, 1),
    ) -> None:
        g = torch.Generator().manual_seed(seed)
        self.num_tokens, self.dim = num_tokens, dim
        self.scale = torch.tensor(scale, dtype=torch.float32)
        self.W = torch.randn(7, num_tokens * dim, generator=g)
        self.b = torch.randn(num_tokens * dim, generator=g)
        self.calls = 0  # number of batched rollout calls

    def features(self, state: Tensor) -> Tensor:
        """state (..., 7) -> features (..., N, E)."""
        f = (state.float() * self.scale) @ self.W + self.b
        return f.reshape(*state.shape[:-1], self.num_tokens, self.dim)

    @torch.no_grad()
    def rollout(self, z0: Tensor, s0: Tensor, actions: Tensor) -> Tensor:
        """Ignores z0 (the state carries everything); (S, H, 7) -> (S, H, N, E)."""
        _, s0 = _check(z0, s0, actions)
        self.calls += 1
        states = roll_states(s0.float(), actions.float())
        return self.features(states[:, 1:])
