"""Image / clip preprocessing for the encoder (the eval transform of the facts).

Input pixels are RGB on the 0-255 scale (uint8, or float already in 0-255). Steps: resize the
short side to ``round(size * crop_ratio)`` (bilinear, antialiased), centre-crop ``size x size``,
normalise with ImageNet mean/std scaled by 255. ``crop_ratio=256/224`` is the released eval
transform; ``crop_ratio=1.0`` is a plain resize of a square image to ``size``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
DEFAULT_CROP_RATIO = 256 / 224


def _check_images(images: Tensor, what: str = "images") -> None:
    if not isinstance(images, Tensor):
        raise ValueError(f"{what} must be a torch.Tensor, got {type(images).__name__}")
    if (
        images.dtype == torch.bool
        or images.is_complex()
        or (not images.is_floating_point() and images.dtype != torch.uint8)
    ):
        raise ValueError(f"{what} must be uint8 or float 0-255, got dtype {images.dtype}")
    if images.shape[-1] != 3:
        raise ValueError(
            f"{what} must be RGB with 3 channels last (..., H, W, 3), "
            f"got shape {tuple(images.shape)}"
        )
    if images.shape[-2] < 1 or images.shape[-3] < 1:
        raise ValueError(f"{what} has an empty spatial size: {tuple(images.shape)}")
    if images.is_floating_point() and not torch.isfinite(images).all():
        raise ValueError(f"{what} contain NaN or inf values")


def preprocess_images(
    images: Tensor,
    size: int,
    crop_ratio: float = DEFAULT_CROP_RATIO,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """(B, H, W, 3) uint8/float 0-255 RGB -> (B, 3, size, size) normalised ``dtype``.

    A single (H, W, 3) image is accepted and returned as (1, 3, size, size).
    """
    _check_images(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4:
        raise ValueError(f"images must be (B, H, W, 3), got shape {tuple(images.shape)}")
    if crop_ratio < 1.0:
        raise ValueError(f"crop_ratio must be >= 1.0, got {crop_ratio}")
    x = images.permute(0, 3, 1, 2).to(torch.float32)
    h, w = x.shape[-2:]
    short = max(size, round(size * crop_ratio))
    new_h, new_w = (
        (short, max(short, round(w * short / h)))
        if h <= w
        else (max(short, round(h * short / w)), short)
    )
    if (new_h, new_w) != (h, w):
        x = F.interpolate(
            x, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True
        )
    top, left = (new_h - size) // 2, (new_w - size) // 2
    x = x[:, :, top : top + size, left : left + size]
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) / std).to(dtype)


def preprocess_clip(
    frames: Tensor,
    size: int,
    crop_ratio: float = DEFAULT_CROP_RATIO,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """(B, T, H, W, 3) (or (T, H, W, 3)) 0-255 RGB -> (B, 3, T, size, size) normalised."""
    _check_images(frames, "frames")
    if frames.ndim == 4:
        frames = frames[None]
    if frames.ndim != 5:
        raise ValueError(f"frames must be (B, T, H, W, 3), got shape {tuple(frames.shape)}")
    b, t = frames.shape[:2]
    x = preprocess_images(frames.flatten(0, 1), size, crop_ratio, dtype)
    return x.unflatten(0, (b, t)).transpose(1, 2)
