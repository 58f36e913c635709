"""V-JEPA 2-AC action-conditioned predictor: block-causal transformer over frames.

Per frame t the token sequence is ``[action_t, state_t, patch_0 .. patch_{N-1}]``:
``action_encoder`` Linear(7->D), ``state_encoder`` Linear(7->D), ``predictor_embed``
Linear(enc_dim->D). Every token of frame t attends to all tokens of frames <= t and none later.
Patches get 3D RoPE at (t, row, col); action/state tokens temporal RoPE at (t, 0, 0).
Output: ``predictor_norm`` LayerNorm -> ``predictor_proj`` Linear(D->enc_dim) on the patch
tokens; frame t's output predicts the (layer-normed) encoder features of frame t+1.
With ``residual=True`` (our option, not in the released model) the head predicts the change:
output = input features of frame t + projection, so "nothing moves" costs the model nothing
and small effects (the gripper's fingers) are not drowned by the error of re-drawing the scene.

Two ways to run it:
- ``forward(z, actions, states)``: teacher forcing over a whole clip.
- ``step(z_t, a_t, s_t, cache)``: one frame, with keys/values of earlier frames taken from a
  :class:`KVCache` (step k costs one frame of compute, not k).

Module names match the released checkpoint (``predictor_embed``, ``action_encoder``,
``state_encoder``, ``extrinsics_encoder`` (unused, kept for loading), ``predictor_blocks.N.*``,
``predictor_norm``, ``predictor_proj``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch import Tensor

from vjepa2_world_model.models.rope import CONVENTIONS, grid_positions, rope_tables
from vjepa2_world_model.models.vit_encoder import Block, init_vit_weights


@dataclass(frozen=True)
class ACPredictorConfig:
    enc_dim: int = 192  # encoder feature dim (input and output)
    dim: int = 128  # predictor width D
    depth: int = 4
    heads: int = 2
    mlp_ratio: float = 4.0
    grid_size: tuple[int, int] = (8, 8)  # patch grid per frame (rows, cols)
    action_dim: int = 7
    state_dim: int = 7
    extrinsics_dim: int = 6
    qkv_bias: bool = True
    norm_eps: float = 1e-6
    rope: str = "released"  # "released" | "standard" (see models/rope.py)
    residual: bool = False  # predict z_{t+1} - z_t (off in the released model)

    def __post_init__(self) -> None:
        object.__setattr__(self, "grid_size", tuple(int(g) for g in self.grid_size))
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise ValueError(f"dim {self.dim} / heads {self.heads} must give an even head dim")
        if self.rope not in CONVENTIONS:
            raise ValueError(f"rope must be one of {CONVENTIONS}, got {self.rope!r}")

    @property
    def num_patches(self) -> int:
        return self.grid_size[0] * self.grid_size[1]

    @property
    def tokens_per_frame(self) -> int:
        return self.num_patches + 2


AC_CONFIGS: dict[str, ACPredictorConfig] = {
    "ac_tiny": ACPredictorConfig(enc_dim=192, dim=128, depth=4, heads=2, grid_size=(8, 8)),
    "ac_vit_giant": ACPredictorConfig(
        enc_dim=1408, dim=1024, depth=24, heads=16, grid_size=(16, 16)
    ),
}


class KVCache:
    """Keys/values (after RoPE) of the frames seen so far, per predictor block.

    ``layers[i] = (k, v)`` with shape (B, heads, frames * tokens_per_frame, head_dim).
    ``expand(n)`` / ``repeat_interleave(n)`` return a NEW cache with a larger batch
    (expand: views of a batch-1 cache, no copy; repeat_interleave: each element n times).
    """

    def __init__(self) -> None:
        self.layers: list[tuple[Tensor, Tensor]] = []
        self.frames = 0

    def __len__(self) -> int:
        return self.frames

    @property
    def batch_size(self) -> int | None:
        return self.layers[0][0].shape[0] if self.layers else None

    def _map(self, fn) -> KVCache:
        out = KVCache()
        out.layers = [(fn(k), fn(v)) for k, v in self.layers]
        out.frames = self.frames
        return out

    def expand(self, n: int) -> KVCache:
        """Batch-1 cache -> batch-n cache (views)."""
        if self.layers and self.batch_size != 1:
            raise ValueError(f"expand needs a batch-1 cache, this one has batch {self.batch_size}")
        return self._map(lambda t: t.expand(n, -1, -1, -1))

    def repeat_interleave(self, n: int) -> KVCache:
        """Batch-b cache -> batch b*n cache, element i repeated n times (copies)."""
        return self._map(lambda t: t.repeat_interleave(n, dim=0))

    def clone(self) -> KVCache:
        return self._map(lambda t: t.clone())


class ACPredictor(nn.Module):
    """Action-conditioned predictor; see the module docstring."""

    kind = "ac_predictor"

    def __init__(self, cfg: ACPredictorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        D = cfg.dim
        self.predictor_embed = nn.Linear(cfg.enc_dim, D)
        self.action_encoder = nn.Linear(cfg.action_dim, D)
        self.state_encoder = nn.Linear(cfg.state_dim, D)
        self.extrinsics_encoder = nn.Linear(cfg.extrinsics_dim, D)  # unused (checkpoint compat)
        hidden = int(D * cfg.mlp_ratio)
        self.predictor_blocks = nn.ModuleList(
            Block(D, cfg.heads, hidden, cfg.qkv_bias, cfg.norm_eps) for _ in range(cfg.depth)
        )
        self.predictor_norm = nn.LayerNorm(D, eps=cfg.norm_eps)
        self.predictor_proj = nn.Linear(D, cfg.enc_dim)
        init_vit_weights(self, self.predictor_blocks)
        self.validate_finite = True  # NaN/inf check of inputs (one host sync per call)

    @property
    def config(self) -> ACPredictorConfig:
        return self.cfg

    def new_cache(self) -> KVCache:
        return KVCache()

    # ------------------------------------------------------------------ helpers
    def _check(self, name: str, x: Tensor, shape: tuple, what: str) -> None:
        if not isinstance(x, Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise ValueError(f"{name} must be a float tensor, got dtype {x.dtype}")
        if x.ndim != len(shape) or any(
            s is not None and s != d for s, d in zip(shape, x.shape, strict=True)
        ):
            raise ValueError(f"{name} must be {what}, got shape {tuple(x.shape)}")
        if self.validate_finite and not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or inf values")

    def _frame_positions(self, t0: int, T: int, device: torch.device) -> Tensor:
        """(T * tokens_per_frame, 3) positions of frames t0 .. t0+T-1."""
        gh, gw = self.cfg.grid_size
        patches = grid_positions(1, gh, gw, device=device)  # (N, 3), t = 0
        per_frame = torch.cat([torch.zeros(2, 3, dtype=torch.long, device=device), patches])
        t = torch.arange(t0, t0 + T, device=device)
        pos = per_frame[None].repeat(T, 1, 1)
        pos[..., 0] = t[:, None]
        return pos.reshape(-1, 3)

    def _tokens(self, z: Tensor, a: Tensor, s: Tensor) -> Tensor:
        """z (B,T,N,E), a/s (B,T,7) -> (B, T*(N+2), D)."""
        dtype = self.predictor_embed.weight.dtype
        x = torch.cat(
            [
                self.action_encoder(a.to(dtype))[:, :, None],
                self.state_encoder(s.to(dtype))[:, :, None],
                self.predictor_embed(z.to(dtype)),
            ],
            2,
        )
        return x.flatten(1, 2)

    def _head(self, x: Tensor, T: int, z: Tensor) -> Tensor:
        """Patch tokens -> predicted features of the next frame (z: this frame's input)."""
        x = self.predictor_norm(x).unflatten(1, (T, self.cfg.tokens_per_frame))[:, :, 2:]
        out = self.predictor_proj(x)
        return out + z.to(out.dtype) if self.cfg.residual else out

    # ------------------------------------------------------------------ API
    def forward(self, z: Tensor, actions: Tensor, states: Tensor) -> Tensor:
        """Teacher forcing: z (B,T,N,E), actions (B,T,7), states (B,T,7) -> (B,T,N,E).

        Output frame t predicts frame t+1's features.
        """
        c = self.cfg
        self._check(
            "z", z, (None, None, c.num_patches, c.enc_dim), f"(B, T, {c.num_patches}, {c.enc_dim})"
        )
        B, T = z.shape[:2]
        self._check("actions", actions, (B, T, c.action_dim), f"(B={B}, T={T}, {c.action_dim})")
        self._check("states", states, (B, T, c.state_dim), f"(B={B}, T={T}, {c.state_dim})")
        x = self._tokens(z, actions, states)
        cos, sin = rope_tables(
            self._frame_positions(0, T, x.device), c.dim // c.heads, c.rope, x.dtype
        )
        mask = None
        if T > 1:
            frame = torch.arange(T, device=x.device).repeat_interleave(c.tokens_per_frame)
            mask = frame[None, :] <= frame[:, None]  # (L, L) True = may attend
        for blk in self.predictor_blocks:
            x = blk(x, cos, sin, mask)[0]
        return self._head(x, T, z)

    def step(self, z_t: Tensor, a_t: Tensor, s_t: Tensor, cache: KVCache) -> Tensor:
        """One frame: z_t (B,N,E), a_t (B,7), s_t (B,7) -> (B,N,E) prediction of frame t+1.

        ``t = cache.frames``; this frame's keys/values are appended to ``cache`` (in place).
        A batch-1 cache is broadcast to batch B.
        """
        c = self.cfg
        self._check(
            "z_t", z_t, (None, c.num_patches, c.enc_dim), f"(B, {c.num_patches}, {c.enc_dim})"
        )
        B = z_t.shape[0]
        self._check("a_t", a_t, (B, c.action_dim), f"(B={B}, {c.action_dim})")
        self._check("s_t", s_t, (B, c.state_dim), f"(B={B}, {c.state_dim})")
        if not isinstance(cache, KVCache):
            raise ValueError(
                f"cache must be a KVCache (predictor.new_cache()), got {type(cache).__name__}"
            )
        cb = cache.batch_size
        if cb is not None and cb != B:
            if cb != 1:
                raise ValueError(f"cache batch {cb} does not match input batch {B}")
            cache.layers = cache.expand(B).layers
        x = self._tokens(z_t[:, None], a_t[:, None], s_t[:, None])
        cos, sin = rope_tables(
            self._frame_positions(cache.frames, 1, x.device), c.dim // c.heads, c.rope, x.dtype
        )
        new_layers = []
        for i, blk in enumerate(self.predictor_blocks):
            past = cache.layers[i] if cache.layers else None
            x, k, v = blk(x, cos, sin, None, past)
            new_layers.append((k, v))
        cache.layers = new_layers
        cache.frames += 1
        return self._head(x, 1, z_t[:, None])[:, 0]


def build_ac_predictor(name: str, **overrides: object) -> ACPredictor:
    """ACPredictor from a named config, with optional field overrides."""
    if name not in AC_CONFIGS:
        raise ValueError(f"unknown AC config {name!r}; known: {sorted(AC_CONFIGS)}")
    cfg = AC_CONFIGS[name]
    return ACPredictor(dataclasses.replace(cfg, **overrides) if overrides else cfg)
