"""Multi-block 3D masks (statistics, determinism, time span) and the mask predictor."""

import dataclasses

import numpy as np
import pytest
import torch

from vjepa2_world_model.models.mask_predictor import MASK_PREDICTOR_CONFIGS, MaskPredictor
from vjepa2_world_model.models.masks import (
    MultiBlockMaskGenerator,
    make_generators,
    sample_batch,
)
from vjepa2_world_model.models.vit_encoder import ENCODER_CONFIGS, VisionTransformer


def _fractions(gen, n=300):
    g = torch.Generator().manual_seed(0)
    return np.array([len(gen(g)[1]) / np.prod(gen.grid) for _ in range(n)])


def test_partition_and_time_span():
    for gen in make_generators((4, 16, 16)):
        g = torch.Generator().manual_seed(1)
        for _ in range(20):
            ctx, tgt = gen(g)
            assert len(ctx) > 0 and len(tgt) > 0
            both = torch.cat([ctx, tgt]).sort().values
            assert torch.equal(both, torch.arange(4 * 256))  # disjoint, complete
            assert torch.equal(ctx, ctx.sort().values) and torch.equal(tgt, tgt.sort().values)
            m = torch.zeros(4 * 256, dtype=torch.bool)
            m[tgt] = True
            m = m.view(4, 256)
            assert (m == m[:1]).all()  # every block spans all time steps


def test_statistics_of_the_two_generators():
    small, large = make_generators((1, 16, 16))
    assert (small.num_blocks, small.scale, large.num_blocks, large.scale) == (8, 0.15, 2, 0.7)
    fs, fl = _fractions(small), _fractions(large)
    # 8 blocks of 15%: union well below 8 x 15% (overlaps), above one block
    assert 0.45 < fs.mean() < 0.75 and fs.min() >= 0.1
    # 2 blocks of 70%: large target, small but non-empty context
    assert 0.75 < fl.mean() < 0.9 and fl.max() < 1.0
    assert fl.mean() > fs.mean() + 0.1


def test_single_block_size_and_aspect_ratio():
    gen = MultiBlockMaskGenerator((1, 32, 32), num_blocks=1, scale=0.15)
    g = torch.Generator().manual_seed(2)
    ars = []
    for _ in range(200):
        _, tgt = gen(g)
        rows, cols = tgt // 32, tgt % 32
        h, w = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
        assert h * w == len(tgt)  # one solid rectangle
        assert abs(len(tgt) - 0.15 * 1024) / (0.15 * 1024) < 0.15
        ars.append(h / w)
    assert min(ars) > 0.7 and max(ars) < 1.6 and max(ars) - min(ars) > 0.4


def test_deterministic_with_seed_torch_and_numpy():
    gen = make_generators((2, 8, 8))[0]
    a = [gen(torch.Generator().manual_seed(5)) for _ in range(2)]
    assert torch.equal(a[0][1], a[1][1])
    b = gen(torch.Generator().manual_seed(6))
    c = [gen(np.random.default_rng(5)) for _ in range(2)]
    assert torch.equal(c[0][0], c[1][0])
    draws = [gen(torch.Generator().manual_seed(s))[1] for s in range(10)]
    assert len({tuple(d.tolist()) for d in draws + [b[1]]}) > 5
    with pytest.raises(ValueError, match="rng"):
        gen(42)


def test_sample_batch_and_pretraining_step_shapes():
    """Masks drive the context encoder (keep_idx) and the mask predictor end to end."""
    torch.manual_seed(0)
    ecfg = dataclasses.replace(ENCODER_CONFIGS["vit_tiny"], depth=1)
    enc = VisionTransformer(ecfg)
    pcfg = dataclasses.replace(MASK_PREDICTOR_CONFIGS["mp_tiny"], depth=1)
    pred = MaskPredictor(pcfg)
    clip = torch.randn(3, 3, 4, 128, 128)
    g = torch.Generator().manual_seed(0)
    for gen in make_generators((2, 8, 8)):
        ctx_idx, tgt_idx = sample_batch(gen, 3, g)
        assert ctx_idx.shape[0] == 3 and tgt_idx.shape[0] == 3
        for c, t in zip(ctx_idx, tgt_idx, strict=True):
            assert not set(c.tolist()) & set(t.tolist())
        ctx = enc(clip, ctx_idx)
        out = pred(ctx, ctx_idx, tgt_idx)
        assert out.shape == (3, tgt_idx.shape[1], 192)
        out.abs().mean().backward()
    assert pred.mask_tokens[0].grad is not None and enc.patch_embed.proj.weight.grad is not None


def test_mask_predictor_positions_matter_and_bad_input():
    torch.manual_seed(0)
    pred = MaskPredictor(dataclasses.replace(MASK_PREDICTOR_CONFIGS["mp_tiny"], depth=1)).eval()
    ctx = torch.randn(1, 10, 192)
    ci = torch.arange(10)[None]
    with torch.no_grad():
        a = pred(ctx, ci, torch.tensor([[20, 30]]))
        b = pred(ctx, ci, torch.tensor([[30, 20]]))
    # same mask token, different RoPE positions -> outputs follow the positions
    torch.testing.assert_close(a, b.flip(1))
    assert (a[0, 0] - a[0, 1]).abs().max() > 1e-4
    with pytest.raises(ValueError, match="ctx must be"):
        pred(torch.randn(1, 10, 100), ci, torch.tensor([[20]]))
    with pytest.raises(ValueError, match="tgt_idx"):
        pred(ctx, ci, torch.tensor([20]))
    with pytest.raises(ValueError, match="ctx_idx has 9"):
        pred(ctx, ci[:, :9], torch.tensor([[20]]))
    assert (
        sum(p.numel() for p in MaskPredictor(MASK_PREDICTOR_CONFIGS["mp_vit_giant"]).parameters())
        > 20e6
    )
