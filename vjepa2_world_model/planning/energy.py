"""Planning energy: mean L1 between layer-normed predicted and goal features."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def layer_norm(x: Tensor) -> Tensor:
    """Layer norm over the feature dim, no affine (the convention of every V-JEPA loss)."""
    return F.layer_norm(x, (x.shape[-1],))


class GoalEnergy:
    """Energy against one goal; the goal's layer-normed features are computed once.

    z_goal: (N, E) or (1, N, E) goal-image features. ``weights`` (length H or None):
    None = the last planned frame only (the paper); otherwise a weighted sum of the
    per-frame energies over the H planned frames (weights need not sum to 1).
    """

    def __init__(self, z_goal: Tensor, weights: Sequence[float] | None = None) -> None:
        if z_goal.dim() == 3 and z_goal.shape[0] == 1:
            z_goal = z_goal[0]
        if z_goal.dim() != 2:
            raise ValueError(f"z_goal must be (N, E) or (1, N, E), got {tuple(z_goal.shape)}")
        self.source = z_goal
        self.goal = layer_norm(z_goal.to(torch.promote_types(z_goal.dtype, torch.float32)))
        self.weights = None if weights is None else [float(w) for w in weights]

    def to(self, device: torch.device | str) -> GoalEnergy:
        """Move the cached goal features to ``device``."""
        self.goal = self.goal.to(device)
        return self

    def per_frame(self, pred: Tensor) -> Tensor:
        """pred (S, H, N, E) -> per-frame energies (S, H), float32 (float64 for float64)."""
        if pred.dim() != 4 or pred.shape[-2:] != self.goal.shape:
            raise ValueError(
                f"predictions must be (S, H, {self.goal.shape[0]}, "
                f"{self.goal.shape[1]}), got {tuple(pred.shape)}"
            )
        dtype = torch.promote_types(pred.dtype, torch.float32)  # float64 stays float64
        return (layer_norm(pred.to(dtype)) - self.goal.to(dtype)).abs().mean(dim=(-2, -1))

    def __call__(self, pred: Tensor) -> Tensor:
        """pred (S, H, N, E) or (S, N, E) (one frame) -> energies (S,), float32."""
        if pred.dim() == 3:
            pred = pred.unsqueeze(1)
        if self.weights is None:
            return self.per_frame(pred[:, -1:])[:, 0]
        if len(self.weights) != pred.shape[1]:
            raise ValueError(f"{len(self.weights)} energy weights for horizon {pred.shape[1]}")
        per = self.per_frame(pred)
        return (per * torch.tensor(self.weights, dtype=per.dtype, device=per.device)).sum(-1)


def energy(pred: Tensor, z_goal: Tensor, weights: Sequence[float] | None = None) -> Tensor:
    """One-shot energy (S,) of predictions (S, H, N, E) against goal features (N, E)."""
    return GoalEnergy(z_goal, weights)(pred)
