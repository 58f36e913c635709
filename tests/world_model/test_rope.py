"""3D RoPE: axis split, frequencies, the released tiled/adjacent-pair convention, shifts."""

import math

import pytest
import torch

from vjepa2_world_model.models.rope import (
    apply_rope,
    axis_dim,
    axis_frequencies,
    grid_positions,
    index_to_positions,
    rope_tables,
    rotate_pairs,
    temporal_positions,
)


def test_axis_split_and_frequencies():
    assert axis_dim(64) == 20 and axis_dim(32) == 10 and axis_dim(96) == 32
    w = axis_frequencies(64, "released")
    base = [1 / 10000 ** (i / 10) for i in range(10)]
    torch.testing.assert_close(w, torch.tensor(base + base, dtype=torch.float64))  # tiled
    s = axis_frequencies(64, "standard")
    torch.testing.assert_close(
        s, torch.tensor([b for b in base for _ in (0, 1)], dtype=torch.float64)
    )
    with pytest.raises(ValueError, match="convention"):
        axis_frequencies(64, "nope")


def test_released_convention_elementwise():
    """Dim j of axis a (offset 20a) at position p: angle p * w[j mod 10], pairs (2k, 2k+1)."""
    head_dim = 64
    x = torch.randn(5, head_dim, dtype=torch.float64)
    pos = torch.tensor([[0, 0, 0], [1, 2, 3], [7, 0, 5], [3, 15, 1], [2, 2, 2]])
    cos, sin = rope_tables(pos, head_dim, "released", torch.float64)
    y = apply_rope(x, cos, sin)
    ref = x.clone()
    for n in range(5):
        for axis in range(3):
            for j in range(20):
                d = 20 * axis + j
                ang = float(pos[n, axis]) / 10000 ** ((j % 10) / 10)
                partner = -x[n, d + 1] if d % 2 == 0 else x[n, d - 1]
                ref[n, d] = x[n, d] * math.cos(ang) + partner * math.sin(ang)
    torch.testing.assert_close(y, ref)
    assert torch.equal(y[:, 60:], x[:, 60:])  # left-over dims untouched
    assert torch.equal(y[0], x[0])  # position (0, 0, 0) is the identity
    assert torch.equal(
        rotate_pairs(torch.tensor([1.0, 2.0, 3.0, 4.0])), torch.tensor([-2.0, 1.0, -4.0, 3.0])
    )


def _scores(q, k, pos_q, pos_k, conv):
    cq, sq = rope_tables(pos_q, q.shape[-1], conv, torch.float64)
    ck, sk = rope_tables(pos_k, k.shape[-1], conv, torch.float64)
    return apply_rope(q, cq, sq) @ apply_rope(k, ck, sk).T


@pytest.mark.parametrize("head_dim", [64, 32])
def test_scores_depend_only_on_relative_position_standard(head_dim):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(6, head_dim, generator=g, dtype=torch.float64)
    k = torch.randn(9, head_dim, generator=g, dtype=torch.float64)
    pq = torch.randint(0, 8, (6, 3), generator=g)
    pk = torch.randint(0, 8, (9, 3), generator=g)
    base = _scores(q, k, pq, pk, "standard")
    for shift in ([1, 0, 0], [0, 3, 0], [0, 0, 5], [4, 7, 2]):
        s = torch.tensor(shift)
        torch.testing.assert_close(_scores(q, k, pq + s, pk + s, "standard"), base)
    # a relative change does change the scores
    assert (_scores(q, k, pq, pk + torch.tensor([0, 1, 0]), "standard") - base).abs().max() > 1e-3


def test_released_convention_is_not_exactly_relative():
    """The released quirk (pair members see different frequencies) breaks exact shift
    invariance; documented here so nobody 'fixes' one side without the other."""
    g = torch.Generator().manual_seed(1)
    q = torch.randn(6, 64, generator=g, dtype=torch.float64)
    k = torch.randn(9, 64, generator=g, dtype=torch.float64)
    pq = torch.randint(0, 8, (6, 3), generator=g)
    pk = torch.randint(0, 8, (9, 3), generator=g)
    base = _scores(q, k, pq, pk, "released")
    shifted = _scores(q, k, pq + 3, pk + 3, "released")
    assert (shifted - base).abs().max() > 1e-2


def test_encoder_attention_scores_shift_invariant():
    """Shift test on a real encoder layer (standard convention): q.k of the first block with
    time/row/col offsets added to all positions is unchanged."""
    import dataclasses

    from vjepa2_world_model.models.vit_encoder import ENCODER_CONFIGS, VisionTransformer

    cfg = dataclasses.replace(ENCODER_CONFIGS["vit_tiny"], depth=1, rope="standard")
    enc = VisionTransformer(cfg).double()
    x = torch.randn(1, 20, cfg.dim, dtype=torch.float64)
    pos = index_to_positions(torch.randperm(128)[:20], 8, 8)
    attn = enc.blocks[0].attn
    qkv = attn.qkv(x).view(1, 20, 3, cfg.heads, 64).permute(2, 0, 3, 1, 4)

    def scores(p):
        c, s = rope_tables(p, 64, "standard", torch.float64)
        return apply_rope(qkv[0], c, s) @ apply_rope(qkv[1], c, s).transpose(-1, -2)

    torch.testing.assert_close(scores(pos + torch.tensor([2, 5, 1])), scores(pos))


def test_positions_helpers():
    pos = grid_positions(2, 3, 4)
    assert pos.shape == (24, 3)
    assert pos[0].tolist() == [0, 0, 0] and pos[5].tolist() == [0, 1, 1]
    assert pos[13].tolist() == [1, 0, 1]
    torch.testing.assert_close(index_to_positions(torch.arange(24), 3, 4), pos)
    t = temporal_positions(torch.tensor([0, 3]))
    assert t.tolist() == [[0, 0, 0], [3, 0, 0]]
    # temporal-only RoPE rotates only the time dims
    x = torch.randn(2, 64, dtype=torch.float64)
    c, s = rope_tables(t, 64, "released", torch.float64)
    y = apply_rope(x, c, s)
    assert torch.equal(y[:, 20:], x[:, 20:]) and not torch.equal(y[1, :20], x[1, :20])
