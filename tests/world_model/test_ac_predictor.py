"""AC predictor: block causality, KV-cached rollout == full recompute, batching, bad input."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from vjepa2_world_model.models.ac_predictor import AC_CONFIGS, ACPredictor
from vjepa2_world_model.pose import apply_action

CFG = AC_CONFIGS["ac_tiny"]
N, E = CFG.num_patches, CFG.enc_dim


def ln(x):
    return F.layer_norm(x, (x.shape[-1],))


@pytest.fixture(scope="module")
def pred():
    torch.manual_seed(0)
    return ACPredictor(CFG).eval()


def _inputs(B=2, T=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        ln(torch.randn(B, T, N, E, generator=g)),
        torch.randn(B, T, 7, generator=g) * 0.1,
        torch.rand(B, T, 7, generator=g),
    )


def test_param_count_meta_and_keys():
    with torch.device("meta"):
        m = ACPredictor(AC_CONFIGS["ac_vit_giant"])
    n = sum(p.numel() for p in m.parameters())
    assert abs(n - 300e6) / 300e6 < 0.02, n  # facts: "~300M"
    # exact count of the stated architecture (1024/24/16, MLP 4, 1408 in/out, 7/7/6 inputs)
    D, L, Ein = 1024, 24, 1408
    block = (3 * D * D + 3 * D) + (D * D + D) + (4 * D * D + 4 * D) + (4 * D * D + D) + 4 * D
    expect = L * block + (Ein * D + D) + (D * Ein + Ein) + 2 * (7 * D + D) + (6 * D + D) + 2 * D
    assert n == expect
    keys = set(ACPredictor(CFG).state_dict())
    assert {
        "predictor_embed.weight",
        "action_encoder.weight",
        "state_encoder.bias",
        "extrinsics_encoder.weight",
        "predictor_blocks.3.attn.qkv.weight",
        "predictor_blocks.0.mlp.fc2.bias",
        "predictor_norm.weight",
        "predictor_proj.bias",
    } <= keys


def test_output_shape(pred):
    z, a, s = _inputs()
    with torch.no_grad():
        out = pred(z, a, s)
    assert out.shape == (2, 4, N, E)


@pytest.mark.parametrize("which", ["action", "state"])
def test_block_causality_bit_identical(pred, which):
    z, a, s = _inputs(T=5)
    with torch.no_grad():
        base = pred(z, a, s)
        for t in range(5):
            a2, s2 = a.clone(), s.clone()
            (a2 if which == "action" else s2)[:, t] += 0.5
            out = pred(z, a2, s2)
            assert torch.equal(out[:, :t], base[:, :t]), f"frames < {t} changed"
            assert (out[:, t] - base[:, t]).abs().max() > 1e-4  # frame t sees its own input


def test_patches_of_frame_t_change_only_frames_ge_t(pred):
    z, a, s = _inputs(T=4)
    with torch.no_grad():
        base = pred(z, a, s)
        z2 = z.clone()
        z2[:, 2, 5] += 1.0  # one patch of frame 2
        out = pred(z2, a, s)
    assert torch.equal(out[:, :2], base[:, :2])
    assert (out[:, 2] - base[:, 2]).abs().max() > 1e-4
    assert (out[:, 3] - base[:, 3]).abs().max() > 1e-6


@pytest.mark.parametrize("horizon", [1, 2, 3, 4])
def test_kv_rollout_equals_full_recompute(pred, horizon):
    """Autoregressive rollout fed back through layer_norm: KV-cached steps == re-running the
    whole teacher-forcing sequence for every step."""
    g = torch.Generator().manual_seed(horizon)
    B = 3
    z0 = ln(torch.randn(B, N, E, generator=g))
    acts = torch.randn(B, horizon, 7, generator=g) * 0.05
    states = [torch.rand(B, 7, generator=g)]
    for h in range(horizon - 1):
        states.append(apply_action(states[-1], acts[:, h]))
    states = torch.stack(states, 1)
    with torch.no_grad():
        cache = pred.new_cache()
        z, cached = z0, []
        for h in range(horizon):
            zhat = pred.step(z, acts[:, h], states[:, h], cache)
            cached.append(zhat)
            z = ln(zhat)
        assert len(cache) == horizon
        zs, full = [z0], []
        for h in range(horizon):
            zhat = pred(torch.stack(zs, 1), acts[:, : h + 1], states[:, : h + 1])[:, -1]
            full.append(zhat)
            zs.append(ln(zhat))
    torch.testing.assert_close(torch.stack(cached, 1), torch.stack(full, 1), atol=1e-5, rtol=1e-5)


def test_cache_expand_and_repeat_interleave(pred):
    """A batch-1 cache batched for n samples gives the same as a batch-n run from scratch."""
    z, a, s = _inputs(B=1, T=3, seed=5)
    n = 4
    g = torch.Generator().manual_seed(9)
    a_next = torch.randn(n, 7, generator=g) * 0.1
    z_next = z[:, 2].expand(n, -1, -1)
    with torch.no_grad():
        c1 = pred.new_cache()
        for t in range(2):
            pred.step(z[:, t], a[:, t], s[:, t], c1)
        ref_cache = pred.new_cache()
        for t in range(2):
            pred.step(
                z[:, t].expand(n, -1, -1), a[:, t].expand(n, 7), s[:, t].expand(n, 7), ref_cache
            )
        ref = pred.step(z_next, a_next, s[:, 2].expand(n, 7), ref_cache)
        for cache in (c1.expand(n), c1.repeat_interleave(n), c1.clone()):
            out = pred.step(z_next, a_next, s[:, 2].expand(n, 7), cache)  # clone: broadcast
            torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
            assert cache.batch_size == n and len(cache) == 3
    assert c1.batch_size == 1 and len(c1) == 2  # expand/repeat return new caches
    with pytest.raises(ValueError, match="batch-1"):
        c1.repeat_interleave(2).expand(3)


@pytest.mark.parametrize("kind", ["action_width", "state_width", "z_shape", "nan", "int", "batch"])
def test_bad_input(pred, kind):
    z, a, s = _inputs(T=2)
    if kind == "action_width":
        a = torch.zeros(2, 2, 6)
    elif kind == "state_width":
        s = torch.zeros(2, 2, 8)
    elif kind == "z_shape":
        z = torch.zeros(2, 2, N + 1, E)
    elif kind == "nan":
        a = a.clone()
        a[0, 1, 3] = float("nan")
    elif kind == "int":
        a = torch.zeros(2, 2, 7, dtype=torch.long)
    elif kind == "batch":
        s = torch.zeros(1, 2, 7)  # would broadcast silently without the check
    with pytest.raises(ValueError):
        pred(z, a, s)


def test_bad_step_input(pred):
    z, a, s = _inputs(T=1)
    cache = pred.new_cache()
    with pytest.raises(ValueError, match="a_t"):
        pred.step(z[:, 0], torch.zeros(2, 6), s[:, 0], cache)
    with pytest.raises(ValueError, match="NaN"):
        pred.step(z[:, 0], a[:, 0], torch.full((2, 7), float("nan")), cache)
    with pytest.raises(ValueError, match="KVCache"):
        pred.step(z[:, 0], a[:, 0], s[:, 0], {})
    with torch.no_grad():
        pred.step(z[:, 0], a[:, 0], s[:, 0], cache)
    with pytest.raises(ValueError, match="cache batch 2"):
        pred.step(z[:, 0].repeat(2, 1, 1), a[:, 0].repeat(2, 1), s[:, 0].repeat(2, 1), cache)


def test_residual_head_predicts_the_change():
    """residual=True adds the frame's input to the head: a zero projection copies the input
    exactly (teacher forcing and KV-cached step), and the cached rollout still matches."""
    torch.manual_seed(1)
    p = ACPredictor(dataclasses.replace(CFG, residual=True)).eval()
    z, a, s = _inputs(B=2, T=3, seed=5)
    with torch.no_grad():
        out = p(z, a, s)
        assert not torch.allclose(out, z, atol=1e-3)  # a trained-like head changes it
        p.predictor_proj.weight.zero_()
        p.predictor_proj.bias.zero_()
        torch.testing.assert_close(p(z, a, s), z)
        cache = p.new_cache()
        torch.testing.assert_close(p.step(z[:, 0], a[:, 0], s[:, 0], cache), z[:, 0])
    plain = ACPredictor(CFG).eval()
    assert not plain.cfg.residual  # the released layout stays the default
