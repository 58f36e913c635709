"""State readout head: frozen-encoder features of one frame -> the 7-D robot state.

Used by the planner's state energy term (``planning.state_energy``): the goal's state is
known only through its image, so the head estimates it from the goal image's features.
A small attentive probe: layer norm (no affine) + a learned per-token position
embedding, ``heads`` learned queries pool the tokens (one softmax each), an MLP maps the
pooled vector to the state. Outputs are in the state's own units (m, rad, 0..1): the
head holds the training data's per-dimension mean and std as buffers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ANGLES = slice(3, 6)  # Euler angles of the 7-D state (compared modulo 2 pi)


@dataclass
class ReadoutConfig:
    """Sizes of the readout head (``embed_dim`` / ``num_tokens`` = the encoder's)."""

    embed_dim: int = 192
    num_tokens: int = 64
    heads: int = 4
    head_dim: int = 32
    hidden: int = 128
    state_dim: int = 7


class StateReadout(nn.Module):
    """features (N, E) or (B, N, E) -> state (7,) or (B, 7)."""

    def __init__(self, cfg: ReadoutConfig) -> None:
        super().__init__()
        self.cfg = cfg
        inner = cfg.heads * cfg.head_dim
        self.pos = nn.Parameter(torch.zeros(cfg.num_tokens, cfg.embed_dim))
        self.key = nn.Linear(cfg.embed_dim, inner)
        self.value = nn.Linear(cfg.embed_dim, inner)
        self.query = nn.Parameter(torch.randn(cfg.heads, cfg.head_dim) * 0.02)
        self.mlp = nn.Sequential(
            nn.Linear(inner, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, cfg.state_dim)
        )
        self.register_buffer("state_mean", torch.zeros(cfg.state_dim))
        self.register_buffer("state_std", torch.ones(cfg.state_dim))

    def set_normalization(self, mean: Tensor, std: Tensor) -> None:
        """Per-dimension output scale (angles keep mean 0, std 1: they wrap)."""
        mean, std = mean.clone().float(), std.clone().float().clamp_min(1e-6)
        mean[ANGLES], std[ANGLES] = 0.0, 1.0
        self.state_mean.copy_(mean)
        self.state_std.copy_(std)

    def normalized(self, z: Tensor) -> Tensor:
        """features -> state in normalized units (what the training loss compares)."""
        single = z.dim() == 2
        if single:
            z = z[None]
        B, N, E = z.shape
        if (N, E) != (self.cfg.num_tokens, self.cfg.embed_dim):
            raise ValueError(
                f"readout expects ({self.cfg.num_tokens}, {self.cfg.embed_dim}) "
                f"features, got {tuple(z.shape[1:])}"
            )
        H, D = self.cfg.heads, self.cfg.head_dim
        x = F.layer_norm(z.float(), (E,)) + self.pos
        k = self.key(x).view(B, N, H, D)
        v = self.value(x).view(B, N, H, D)
        att = torch.einsum("bnhd,hd->bnh", k, self.query).div(math.sqrt(D)).softmax(dim=1)
        pooled = torch.einsum("bnh,bnhd->bhd", att, v).reshape(B, H * D)
        out = self.mlp(pooled)
        return out[0] if single else out

    def forward(self, z: Tensor) -> Tensor:
        return self.normalized(z) * self.state_std + self.state_mean


def wrap_angle(x: Tensor) -> Tensor:
    """Angles to (-pi, pi]."""
    return torch.atan2(torch.sin(x), torch.cos(x))


def state_difference(a: Tensor, b: Tensor) -> Tensor:
    """a - b per state dimension, angles wrapped (roll +pi and -pi are the same)."""
    d = a - b
    return torch.cat([d[..., :3], wrap_angle(d[..., ANGLES]), d[..., 6:]], -1)
