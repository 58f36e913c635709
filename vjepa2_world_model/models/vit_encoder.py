"""V-JEPA 2 video encoder: a ViT with Conv3d tubelet embedding and 3D RoPE.

One file, top to bottom: config, attention, MLP, block, model. Module names follow the
released checkpoints (``patch_embed.proj``, ``blocks.N.{norm1, attn.qkv, attn.proj, norm2,
mlp.fc1, mlp.fc2}``, ``norm``) so loading them is a prefix strip, not a rename.
No cls token, no absolute position embedding: positions enter only through RoPE.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from vjepa2_world_model.models.rope import (
    CONVENTIONS,
    apply_rope,
    grid_positions,
    index_to_positions,
    rope_tables,
)
from vjepa2_world_model.preprocess import DEFAULT_CROP_RATIO, preprocess_images


@dataclass(frozen=True)
class EncoderConfig:
    img_size: int = 128  # square input side (pixels)
    patch: int = 16  # spatial patch side
    tubelet: int = 2  # frames per token
    in_chans: int = 3
    dim: int = 192
    depth: int = 6
    heads: int = 3
    mlp_hidden: int = 768
    qkv_bias: bool = True
    norm_eps: float = 1e-6
    rope: str = "released"  # "released" (checkpoint convention) | "standard"
    crop_ratio: float = DEFAULT_CROP_RATIO  # encode_images: short side -> img_size * ratio

    def __post_init__(self) -> None:
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not divisible by heads {self.heads}")
        if (self.dim // self.heads) % 2:
            raise ValueError(f"head dim {self.dim // self.heads} must be even for RoPE")
        if self.img_size % self.patch:
            raise ValueError(f"img_size {self.img_size} is not a multiple of patch {self.patch}")
        if self.rope not in CONVENTIONS:
            raise ValueError(f"rope must be one of {CONVENTIONS}, got {self.rope!r}")

    @property
    def grid(self) -> int:
        """Patches per image side."""
        return self.img_size // self.patch

    @property
    def tokens_per_tubelet(self) -> int:
        return self.grid * self.grid


ENCODER_CONFIGS: dict[str, EncoderConfig] = {
    # vit_tiny: the sim model; plain resize (crop_ratio 1.0) keeps the gripper at the frame edge.
    "vit_tiny": EncoderConfig(
        img_size=128, dim=192, depth=6, heads=3, mlp_hidden=768, crop_ratio=1.0
    ),
    "vit_large": EncoderConfig(img_size=256, dim=1024, depth=24, heads=16, mlp_hidden=4096),
    "vit_huge": EncoderConfig(img_size=256, dim=1280, depth=32, heads=16, mlp_hidden=5120),
    "vit_giant": EncoderConfig(img_size=256, dim=1408, depth=40, heads=22, mlp_hidden=6144),
    "vit_giant_384": EncoderConfig(img_size=384, dim=1408, depth=40, heads=22, mlp_hidden=6144),
}


class Attention(nn.Module):
    """Multi-head self-attention with RoPE on q and k; optional mask and past keys/values.

    ``forward`` returns (output, k, v) with k/v (B, heads, L, head_dim) after RoPE, so callers
    can cache them (the AC predictor's KV cache).
    """

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self,
        x: Tensor,
        cos: Tensor,
        sin: Tensor,
        mask: Tensor | None = None,
        past: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        B, L, D = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        cos, sin = cos.to(q.dtype), sin.to(q.dtype)  # autocast-safe
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if past is not None and past[0].dtype != k.dtype:
            past = (past[0].to(k.dtype), past[1].to(v.dtype))
        if past is not None:
            k = torch.cat([past[0], k], 2)
            v = torch.cat([past[1], v], 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(y.transpose(1, 2).reshape(B, L, D)), k, v


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)); x + mlp(norm2(x))."""

    def __init__(
        self, dim: int, heads: int, mlp_hidden: int, qkv_bias: bool = True, eps: float = 1e-6
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = MLP(dim, mlp_hidden)

    def forward(
        self,
        x: Tensor,
        cos: Tensor,
        sin: Tensor,
        mask: Tensor | None = None,
        past: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        a, k, v = self.attn(self.norm1(x), cos, sin, mask, past)
        x = x + a
        return x + self.mlp(self.norm2(x)), k, v


class PatchEmbed3D(nn.Module):
    """Conv3d with kernel = stride = (tubelet, patch, patch): (B,C,T,H,W) -> (B, N, D)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        k = (cfg.tubelet, cfg.patch, cfg.patch)
        self.proj = nn.Conv3d(cfg.in_chans, cfg.dim, kernel_size=k, stride=k)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


def init_vit_weights(model: nn.Module, blocks: nn.ModuleList, std: float = 0.02) -> None:
    """ViT initialisation: trunc-normal(std) linear/conv weights, zero biases, unit LayerNorms;
    the residual output projections (attn.proj, mlp.fc2) of block i are divided by
    sqrt(2 * (i + 1)) so the residual stream does not grow with depth."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv3d)):
            nn.init.trunc_normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    with torch.no_grad():
        for i, blk in enumerate(blocks):
            blk.attn.proj.weight.div_((2.0 * (i + 1)) ** 0.5)
            blk.mlp.fc2.weight.div_((2.0 * (i + 1)) ** 0.5)


class VisionTransformer(nn.Module):
    """Video ViT encoder. ``forward(clip)`` (B,3,T,H,W) normalised -> (B, N, dim)."""

    kind = "encoder"

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed3D(cfg)
        self.blocks = nn.ModuleList(
            Block(cfg.dim, cfg.heads, cfg.mlp_hidden, cfg.qkv_bias, cfg.norm_eps)
            for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(cfg.dim, eps=cfg.norm_eps)
        init_vit_weights(self, self.blocks)
        self.validate_finite = True  # NaN/inf check of inputs (one host sync per call)

    @property
    def config(self) -> EncoderConfig:
        return self.cfg

    def _check_clip(self, clip: Tensor) -> None:
        c = self.cfg
        if not isinstance(clip, Tensor):
            raise ValueError(f"clip must be a torch.Tensor, got {type(clip).__name__}")
        if clip.ndim != 5:
            raise ValueError(f"clip must be (B, 3, T, H, W), got shape {tuple(clip.shape)}")
        if not clip.is_floating_point():
            raise ValueError(
                f"clip must be a float tensor (normalised), got dtype {clip.dtype}; "
                "use encode_images() for uint8 images"
            )
        _, C, T, H, W = clip.shape
        if C != c.in_chans:
            raise ValueError(
                f"clip must have {c.in_chans} channels in dim 1, got {C} "
                f"(shape {tuple(clip.shape)})"
            )
        if (H, W) != (c.img_size, c.img_size):
            raise ValueError(f"clip frames must be {c.img_size}x{c.img_size}, got {H}x{W}")
        if T < c.tubelet or T % c.tubelet:
            raise ValueError(
                f"clip length T={T} must be a positive multiple of the tubelet size {c.tubelet}"
            )
        if self.validate_finite and not torch.isfinite(clip).all():
            raise ValueError("clip contains NaN or inf values")

    def forward(self, clip: Tensor, keep_idx: Tensor | None = None) -> Tensor:
        """clip (B,3,T,H,W) -> (B, N, D), N = T/tubelet * (H/patch) * (W/patch).

        ``keep_idx`` (B, K) long: encode only those token positions (masked-context encoding);
        the output is then (B, K, D) in keep_idx order.
        """
        self._check_clip(clip)
        c = self.cfg
        x = self.patch_embed(clip.to(self.patch_embed.proj.weight.dtype))
        B, N, _ = x.shape
        g = c.grid
        if keep_idx is None:
            pos = grid_positions(N // (g * g), g, g, device=x.device)  # (N, 3)
        else:
            if (
                keep_idx.ndim != 2
                or keep_idx.shape[0] != B
                or keep_idx.dtype not in (torch.int64, torch.int32)
            ):
                raise ValueError(
                    f"keep_idx must be (B={B}, K) integer, got "
                    f"{tuple(keep_idx.shape)} {keep_idx.dtype}"
                )
            if keep_idx.numel() and (int(keep_idx.min()) < 0 or int(keep_idx.max()) >= N):
                raise ValueError(f"keep_idx values must lie in [0, {N})")
            keep_idx = keep_idx.long()
            x = torch.gather(x, 1, keep_idx[..., None].expand(-1, -1, x.shape[-1]))
            pos = index_to_positions(keep_idx, g, g)[:, None]  # (B, 1, K, 3) over heads
        cos, sin = rope_tables(pos, c.dim // c.heads, c.rope, x.dtype)
        for blk in self.blocks:
            x = blk(x, cos, sin)[0]
        return self.norm(x)

    def encode_images(self, images: Tensor) -> Tensor:
        """(B, H, W, 3) uint8/float 0-255 RGB -> preprocess -> one tubelet -> (B, N, D)."""
        dtype = self.patch_embed.proj.weight.dtype
        x = preprocess_images(images, self.cfg.img_size, self.cfg.crop_ratio)
        x = x.to(device=self.patch_embed.proj.weight.device, dtype=dtype)
        return self(x[:, :, None].expand(-1, -1, self.cfg.tubelet, -1, -1))


def build_encoder(name: str, **overrides: object) -> VisionTransformer:
    """VisionTransformer from a named config, with optional field overrides."""
    if name not in ENCODER_CONFIGS:
        raise ValueError(f"unknown encoder config {name!r}; known: {sorted(ENCODER_CONFIGS)}")
    cfg = ENCODER_CONFIGS[name]
    return VisionTransformer(dataclasses.replace(cfg, **overrides) if overrides else cfg)
