"""KV-cached rollout == naive full recomputation, with the real ac_tiny predictor."""

import math
from dataclasses import replace

import torch

from vjepa2_world_model.models.ac_predictor import AC_CONFIGS, ACPredictor
from vjepa2_world_model.planning import (
    RecedingHorizonPlanner,
    apply_action,
    get_preset,
    make_rollout,
)
from vjepa2_world_model.planning.energy import layer_norm
from vjepa2_world_model.planning.flops import PredictorShape, frame_flops, rollout_flops

S0 = torch.tensor([0.45, -0.05, 0.25, math.pi, 0.0, 0.3, 0.2])


def _setup(seed=0):
    torch.manual_seed(seed)
    pred = ACPredictor(AC_CONFIGS["ac_tiny"]).eval()
    cfg = AC_CONFIGS["ac_tiny"]
    shape = PredictorShape.from_config(cfg)
    g = torch.Generator().manual_seed(seed)
    z0 = torch.randn(shape.num_patches, shape.enc_dim, generator=g)
    z_goal = torch.randn(shape.num_patches, shape.enc_dim, generator=g)
    return pred, shape, z0, z_goal, g


def test_cached_rollout_equals_naive_and_teacher_forcing():
    pred, shape, z0, _, g = _setup()
    acts = torch.randn(4, 3, 7, generator=g) * 0.05
    cached = make_rollout(pred, "cached").rollout(z0, S0, acts)
    naive = make_rollout(pred, "naive").rollout(z0, S0, acts)
    assert cached.shape == (4, 3, shape.num_patches, shape.enc_dim)
    torch.testing.assert_close(cached, naive, atol=1e-4, rtol=1e-4)
    # step 0 is exactly one teacher-forcing frame; different actions -> different outputs
    tf = pred(layer_norm(z0).expand(4, 1, *z0.shape), acts[:, :1], S0.expand(4, 1, 7))
    torch.testing.assert_close(cached[:, 0], tf[:, 0], atol=1e-4, rtol=1e-4)
    assert (cached[0, 0] - cached[1, 0]).abs().max() > 1e-4
    # chunked (GPU memory option) gives the same numbers
    chunked = make_rollout(pred, "cached", chunk_size=3).rollout(z0, S0, acts)
    torch.testing.assert_close(chunked, cached, atol=1e-5, rtol=1e-5)


def test_kv_cached_plan_equals_naive_plan():
    pred, _, z0, z_goal, _ = _setup(1)
    # stronger action/state embeddings so that the random-init model's energies depend on
    # the plan and near-ties (which float rounding could reorder) do not happen
    with torch.no_grad():
        pred.action_encoder.weight.mul_(30.0)
        pred.state_encoder.weight.mul_(10.0)
    cfg = get_preset("reference", num_samples=16, iterations=3, top_k=4)  # H = 2
    results = {}
    for mode in ("cached", "naive"):
        planner = RecedingHorizonPlanner.from_predictor(pred, replace(cfg, rollout=mode))
        assert planner.world_model.__class__.__name__.lower().startswith(mode)
        s, out = S0.clone(), []
        for _ in range(2):  # second step is warm-started
            r = planner.plan(z0, s, z_goal)
            out.append(r)
            s = apply_action(s, r.action)
        results[mode] = out
    for a, b in zip(results["cached"], results["naive"], strict=True):
        assert a.ok and b.ok
        torch.testing.assert_close(a.actions, b.actions, atol=1e-5, rtol=0)
        assert abs(a.energy - b.energy) < 1e-4
    spread = results["cached"][0].history
    assert spread[0] > spread[-1]  # the energy is not flat: the comparison means something


def test_flop_count_matches_architecture():
    _, shape, _, _, _ = _setup()
    assert (shape.dim, shape.depth, shape.enc_dim, shape.num_patches) == (128, 4, 192, 64)
    assert abs(frame_flops(shape, 0) / 1e6 - 119.0) < 1.0
    # naive H=2 runs frames (0), (0, 1): 3 frames of work vs 2 cached
    assert rollout_flops(shape, 2, cached=False) > 1.45 * rollout_flops(shape, 2, cached=True)
    giant = PredictorShape.from_config(AC_CONFIGS["ac_vit_giant"])
    assert (giant.dim, giant.depth, giant.enc_dim, giant.num_patches) == (1024, 24, 1408, 256)
