"""Encoder: shapes, masked-context encoding, image path, bad input, parameter counts."""

import dataclasses

import pytest
import torch

from vjepa2_world_model.models.vit_encoder import ENCODER_CONFIGS, VisionTransformer
from vjepa2_world_model.preprocess import preprocess_clip, preprocess_images

TINY = dataclasses.replace(ENCODER_CONFIGS["vit_tiny"], depth=2)


@pytest.fixture(scope="module")
def enc():
    torch.manual_seed(0)
    return VisionTransformer(TINY).eval()


@pytest.mark.parametrize(
    "name,expected", [("vit_large", 304e6), ("vit_huge", 632e6), ("vit_giant", 1012e6)]
)
def test_param_counts_meta(name, expected):
    with torch.device("meta"):
        m = VisionTransformer(ENCODER_CONFIGS[name])
    assert next(m.parameters()).is_meta
    n = sum(p.numel() for p in m.parameters())
    assert abs(n - expected) / expected < 0.01, n


def test_released_key_names(enc):
    keys = set(enc.state_dict())
    assert {
        "patch_embed.proj.weight",
        "patch_embed.proj.bias",
        "norm.weight",
        "blocks.0.norm1.weight",
        "blocks.0.attn.qkv.bias",
        "blocks.0.attn.proj.weight",
        "blocks.1.norm2.bias",
        "blocks.1.mlp.fc1.weight",
        "blocks.1.mlp.fc2.bias",
    } <= keys
    assert enc.patch_embed.proj.kernel_size == (2, 16, 16)
    assert enc.norm.eps == 1e-6 and enc.blocks[0].attn.qkv.bias is not None


def test_forward_shapes_and_keep_idx(enc):
    clip = torch.randn(2, 3, 4, 128, 128)
    with torch.no_grad():
        full = enc(clip)
        assert full.shape == (2, 128, 192)
        # all tokens in a shuffled order == the full output permuted (RoPE follows tokens)
        perm = torch.stack([torch.randperm(128), torch.randperm(128)])
        part = enc(clip, perm)
        torch.testing.assert_close(part, torch.gather(full, 1, perm[..., None].expand(-1, -1, 192)))
        sub = enc(clip, perm[:, :40])
    assert sub.shape == (2, 40, 192)
    assert (sub - part[:, :40]).abs().max() > 1e-4  # fewer tokens attend -> other features


def test_encode_images_uint8_float_and_repeat(enc):
    img = torch.randint(0, 256, (3, 160, 200, 3), dtype=torch.uint8)
    with torch.no_grad():
        a = enc.encode_images(img)
        b = enc.encode_images(img.float())
        x = preprocess_images(img, 128, enc.cfg.crop_ratio)
        c = enc(x[:, :, None].repeat(1, 1, 2, 1, 1))
    assert a.shape == (3, 64, 192)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)


@pytest.mark.parametrize(
    "clip,match",
    [
        (torch.randn(1, 3, 2, 64, 64), "128x128"),
        (torch.randn(1, 4, 2, 128, 128), "3 channels"),
        (torch.randn(1, 3, 3, 128, 128), "tubelet"),
        (torch.randn(3, 2, 128, 128), r"\(B, 3, T, H, W\)"),
        (torch.zeros(1, 3, 2, 128, 128, dtype=torch.uint8), "float"),
        (torch.full((1, 3, 2, 128, 128), float("nan")), "NaN"),
    ],
)
def test_bad_clips(enc, clip, match):
    with pytest.raises(ValueError, match=match):
        enc(clip)


@pytest.mark.parametrize(
    "img,match",
    [
        (torch.zeros(1, 128, 128, 4, dtype=torch.uint8), "3 channels"),
        (torch.zeros(1, 3, 128, 128, dtype=torch.uint8), "3 channels"),
        (torch.zeros(1, 128, 128, 3, dtype=torch.int32), "dtype"),
        (torch.full((1, 128, 128, 3), float("nan")), "NaN"),
        (torch.zeros(1, 1, 1, 128, 128, 3), r"\(B, H, W, 3\)"),
    ],
)
def test_bad_images(enc, img, match):
    with pytest.raises(ValueError, match=match):
        enc.encode_images(img)


def test_bad_keep_idx(enc):
    clip = torch.randn(1, 3, 2, 128, 128)
    with pytest.raises(ValueError, match="keep_idx"):
        enc(clip, torch.tensor([[0, 64]]))
    with pytest.raises(ValueError, match="keep_idx"):
        enc(clip, torch.tensor([[0.0, 1.0]]))


def test_preprocess_normalisation_and_crop():
    # constant image: every pixel maps to (v - mean) / std per channel
    img = torch.full((1, 100, 150, 3), 128, dtype=torch.uint8)
    x = preprocess_images(img, 64)
    assert x.shape == (1, 3, 64, 64) and x.dtype == torch.float32
    mean = torch.tensor([0.485, 0.456, 0.406]) * 255
    std = torch.tensor([0.229, 0.224, 0.225]) * 255
    torch.testing.assert_close(x[0, :, 10, 10], (128 - mean) / std)
    # ratio 1.0 on a square image at target size is the identity resize
    sq = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
    y = preprocess_images(sq, 64, crop_ratio=1.0)
    torch.testing.assert_close(
        y * std.view(1, 3, 1, 1) + mean.view(1, 3, 1, 1),
        sq.permute(0, 3, 1, 2).float(),
        atol=1e-3,
        rtol=0,
    )
    # default ratio 256/224: short side 64 -> 73, centre crop keeps the middle
    marker = torch.zeros(1, 73, 73, 3, dtype=torch.uint8)
    marker[:, 3, :] = 255  # rows 0-3 fall outside the centre crop of 64 from 73 rows
    z = preprocess_images(marker, 64)
    assert (z[0, 0] * std[0] + mean[0]).max() < 1.0 + 1e-3
    marker[:, 4, :] = 255  # row 4 is the first kept row
    assert (preprocess_images(marker, 64)[0, 0, 0] * std[0] + mean[0]).min() > 254.0
    clip = preprocess_clip(torch.randint(0, 256, (2, 4, 80, 80, 3), dtype=torch.uint8), 64)
    assert clip.shape == (2, 3, 4, 64, 64)
