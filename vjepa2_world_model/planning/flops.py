"""Analytic FLOP counts (1 multiply-add = 2 FLOPs) for the AC predictor and the planner.

Counts the matmuls (linear layers and attention); norms, softmax, RoPE and the CEM
bookkeeping are ignored (< 1% for these shapes). Attention counts the block-causal
work that is needed: a frame with c earlier frames attends to (c + 1) * (N + 2) keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PredictorShape:
    """The numbers the FLOP count needs from an AC predictor config."""

    dim: int
    depth: int
    mlp_ratio: float
    enc_dim: int
    num_patches: int
    action_dim: int = 7

    @classmethod
    def from_config(cls, cfg: Any) -> PredictorShape:
        """Read an ACPredictorConfig (or any object / dict with the usual field names)."""
        get = (lambda k: cfg.get(k)) if isinstance(cfg, dict) else (lambda k: getattr(cfg, k, None))

        def first(*names: str) -> Any:
            for n in names:
                v = get(n)
                if v is not None:
                    return v
            raise ValueError(f"predictor config has none of {names}")

        patches = get("num_patches")
        if patches is None:
            grid = first("grid_size", "grid", "num_patches_per_frame")
            patches = grid[0] * grid[1] if isinstance(grid, (tuple, list)) else grid * grid
        return cls(
            dim=int(first("dim", "embed_dim", "predictor_dim")),
            depth=int(first("depth", "num_layers")),
            mlp_ratio=float(first("mlp_ratio")),
            enc_dim=int(first("enc_dim", "encoder_dim", "input_dim")),
            num_patches=int(patches),
        )


def frame_flops(p: PredictorShape, context_frames: int) -> float:
    """FLOPs for one frame of one sample that attends to ``context_frames`` earlier frames."""
    t = p.num_patches + 2  # action, state, patches
    keys = (context_frames + 1) * t
    linear = 2 * t * p.dim * p.dim * (4 + 2 * p.mlp_ratio)  # qkv + proj + mlp
    attn = 2 * 2 * t * keys * p.dim  # QK^T and AV
    embed = 2 * p.num_patches * p.enc_dim * p.dim + 2 * 2 * p.action_dim * p.dim
    out = 2 * p.num_patches * p.dim * p.enc_dim
    return p.depth * (linear + attn) + embed + out


def rollout_flops(p: PredictorShape, horizon: int, cached: bool = True) -> float:
    """FLOPs of one sample's H-step rollout: KV-cached (H frames) or naive (re-run the
    growing sequence each step, H(H+1)/2 frames)."""
    if cached:
        return sum(frame_flops(p, h) for h in range(horizon))
    return sum(frame_flops(p, c) for h in range(horizon) for c in range(h + 1))


def plan_step_flops(
    p: PredictorShape, samples: int, iterations: int, horizon: int, cached: bool = True
) -> float:
    """Predictor FLOPs of one planning step (all CEM iterations)."""
    return samples * iterations * rollout_flops(p, horizon, cached)


def encoder_flops(dim: int, depth: int, mlp_ratio: float, tokens: int, patch_dim: int) -> float:
    """FLOPs of one ViT encoder pass over ``tokens`` tokens (patch_dim = 3*2*16*16)."""
    linear = 2 * tokens * dim * dim * (4 + 2 * mlp_ratio)
    attn = 4 * tokens * tokens * dim
    return depth * (linear + attn) + 2 * tokens * patch_dim * dim


H100_BF16_DENSE_FLOPS = 989e12
