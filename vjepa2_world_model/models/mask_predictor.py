"""Mask predictor for V-JEPA self-supervised pretraining: a narrow ViT with mask tokens.

Input: context-encoder features at the context positions and the target positions.
``predictor_embed`` maps encoder features (enc_dim) to the predictor width; every target
position gets a learnable mask token; all tokens carry the same 3D RoPE as the encoder
(position = their (t, row, col) in the clip's token grid). After the blocks,
``predictor_norm`` + ``predictor_proj`` map the target tokens back to enc_dim.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch import Tensor

from vjepa2_world_model.models.rope import CONVENTIONS, index_to_positions, rope_tables
from vjepa2_world_model.models.vit_encoder import Block, init_vit_weights


@dataclass(frozen=True)
class MaskPredictorConfig:
    enc_dim: int = 192
    dim: int = 384
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    img_size: int = 128  # of the encoder input; with ``patch`` gives the token grid
    patch: int = 16
    num_mask_tokens: int = 1  # one learnable token per mask generator (mask_index)
    qkv_bias: bool = True
    norm_eps: float = 1e-6
    rope: str = "released"

    def __post_init__(self) -> None:
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise ValueError(f"dim {self.dim} / heads {self.heads} must give an even head dim")
        if self.rope not in CONVENTIONS:
            raise ValueError(f"rope must be one of {CONVENTIONS}, got {self.rope!r}")

    @property
    def grid(self) -> int:
        return self.img_size // self.patch


MASK_PREDICTOR_CONFIGS: dict[str, MaskPredictorConfig] = {
    "mp_tiny": MaskPredictorConfig(enc_dim=192, dim=96, depth=4, heads=3, img_size=128),
    "mp_vit_giant": MaskPredictorConfig(enc_dim=1408, dim=384, depth=12, heads=12, img_size=256),
}


class MaskPredictor(nn.Module):
    """``forward(ctx, ctx_idx, tgt_idx)`` -> predictions (B, M, enc_dim) at tgt_idx."""

    kind = "mask_predictor"

    def __init__(self, cfg: MaskPredictorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.predictor_embed = nn.Linear(cfg.enc_dim, cfg.dim)
        self.mask_tokens = nn.ParameterList(
            nn.Parameter(torch.zeros(1, 1, cfg.dim)) for _ in range(cfg.num_mask_tokens)
        )
        hidden = int(cfg.dim * cfg.mlp_ratio)
        self.predictor_blocks = nn.ModuleList(
            Block(cfg.dim, cfg.heads, hidden, cfg.qkv_bias, cfg.norm_eps) for _ in range(cfg.depth)
        )
        self.predictor_norm = nn.LayerNorm(cfg.dim, eps=cfg.norm_eps)
        self.predictor_proj = nn.Linear(cfg.dim, cfg.enc_dim)
        init_vit_weights(self, self.predictor_blocks)
        for t in self.mask_tokens:
            nn.init.trunc_normal_(t, std=0.02)

    @property
    def config(self) -> MaskPredictorConfig:
        return self.cfg

    def forward(
        self,
        ctx: Tensor,
        ctx_idx: Tensor,
        tgt_idx: Tensor,
        grid: tuple[int, ...] | None = None,
        mask_index: int = 0,
    ) -> Tensor:
        """ctx (B,K,enc_dim) features at ctx_idx (B,K); tgt_idx (B,M) -> (B,M,enc_dim).

        Indices are flat token indices of the clip grid (time-major); ``grid`` = (T,H,W) or
        (H,W) overrides the config's spatial grid (img_size / patch).
        """
        c = self.cfg
        if ctx.ndim != 3 or ctx.shape[-1] != c.enc_dim:
            raise ValueError(f"ctx must be (B, K, {c.enc_dim}), got {tuple(ctx.shape)}")
        B, K = ctx.shape[:2]
        for name, idx in (("ctx_idx", ctx_idx), ("tgt_idx", tgt_idx)):
            if idx.ndim != 2 or idx.shape[0] != B or idx.dtype not in (torch.int64, torch.int32):
                raise ValueError(
                    f"{name} must be (B={B}, n) integer, got {tuple(idx.shape)} {idx.dtype}"
                )
        if ctx_idx.shape[1] != K:
            raise ValueError(f"ctx_idx has {ctx_idx.shape[1]} positions but ctx {K} tokens")
        if not 0 <= mask_index < c.num_mask_tokens:
            raise ValueError(f"mask_index {mask_index} out of range [0, {c.num_mask_tokens})")
        h, w = (c.grid, c.grid) if grid is None else tuple(grid)[-2:]
        M = tgt_idx.shape[1]
        x = torch.cat(
            [
                self.predictor_embed(ctx),
                self.mask_tokens[mask_index].to(ctx.dtype).expand(B, M, -1),
            ],
            1,
        )
        pos = index_to_positions(torch.cat([ctx_idx, tgt_idx], 1).long(), h, w)[:, None]
        cos, sin = rope_tables(pos, c.dim // c.heads, c.rope, x.dtype)
        for blk in self.predictor_blocks:
            x = blk(x, cos, sin)[0]
        return self.predictor_proj(self.predictor_norm(x[:, K:]))
