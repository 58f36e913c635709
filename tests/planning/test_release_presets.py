"""The `paper` and `reference` presets as released: every number pinned, and a CEM run of
`reference` compared step by step with the released update rule written out here."""

from __future__ import annotations

import torch

from vjepa2_world_model.planning import CEM, get_preset

S, H, K, ITERS, MAXNORM = 400, 2, 10, 10, 0.05


def test_reference_preset_numbers():
    cfg = get_preset("reference")
    c = cfg.cem
    assert (c.num_samples, c.iterations, c.top_k, c.horizon) == (400, 10, 10, 2)
    assert (c.limit, c.maxnorm, c.gripper_clip, c.search_dims) == ("box", 0.05, 0.75, (0, 1, 2, 6))
    assert (c.init_std, c.init_std_gripper, c.min_std) == (0.05, 1.0, 0.0)
    assert (c.momentum_mean, c.momentum_std) == (0.25, 0.95)
    assert (c.momentum_mean_gripper, c.momentum_std_gripper) == (0.15, 0.15)
    assert (c.std_unbiased, c.step_major_noise, c.gripper_deadband) == (True, True, 0.25)
    assert c.close_gripper_from_step is None and not c.include_mean and c.stop_std == 0
    assert not cfg.warm_start and (cfg.encoder, cfg.predictor) == ("vit_giant", "ac_vit_giant")


def test_paper_preset_numbers():
    cfg = get_preset("paper")
    c = cfg.cem
    assert (c.num_samples, c.iterations, c.top_k, c.horizon) == (800, 10, 10, 1)
    assert (c.limit, c.l1_radius, c.search_dims) == ("l1", 0.075, (0, 1, 2, 6))
    assert (c.gripper_clip, c.init_std, c.init_std_gripper) == (1.0, 0.05, 0.5)
    assert (c.momentum_mean, c.momentum_std, c.gripper_deadband) == (0.0, 0.0, 0.0)
    assert c.momentum_mean_gripper is None and c.close_gripper_from_step is None
    assert not cfg.warm_start and (cfg.encoder, cfg.predictor) == ("vit_giant", "ac_vit_giant")


def test_cpu_preset_unchanged():
    c = get_preset("cpu").cem
    assert (c.num_samples, c.iterations, c.top_k, c.horizon, c.limit, c.l1_radius) == (
        32,
        4,
        4,
        1,
        "l1",
        0.075,
    )
    assert (c.momentum_mean, c.momentum_std, c.include_mean) == (0.1, 0.1, True)
    assert (c.std_unbiased, c.step_major_noise, c.gripper_deadband) == (False, False, 0.0)


TARGET = torch.tensor([0.07, -0.03, 0.02])


def _energy(a: torch.Tensor) -> torch.Tensor:
    """Tiny energy over (S, H, 7): reach TARGET with the summed xyz, a small gripper
    command on step 0 (under the deadband), open on the last step, rotation 0."""
    return (
        (a[:, :, :3].sum(1) - TARGET).abs().sum(-1)
        + 0.2 * (a[:, -1, 6] + 0.4).abs()
        + 0.2 * (a[:, 0, 6] - 0.1).abs()
        + a[:, :, 3:6].abs().sum((1, 2))
    )


def _released_rule(gen: torch.Generator, close_from: int | None = None):
    """The release's cem() on (x, y, z, gripper), written out: per rollout step draw
    randn(S, 4) * std[h] + mean[h], clip xyz to +-maxnorm and the gripper to +-0.75,
    force the gripper to 1 from step close_from on; top-k smallest energies; mean and
    (unbiased) std of the elites; new = (1 - m) * elite + m * old."""
    mean = torch.zeros(H, 4)
    std = torch.cat([torch.full((H, 3), MAXNORM), torch.ones(H, 1)], -1)
    samples_seen = []
    for _ in range(ITERS):
        steps = []
        for h in range(H):
            a = torch.randn(S, 4, generator=gen) * std[h] + mean[h]
            a[:, :3] = a[:, :3].clip(-MAXNORM, MAXNORM)
            a[:, 3:] = a[:, 3:].clip(-0.75, 0.75)
            if close_from is not None and h >= close_from:
                a[:, 3] = 1.0
            steps.append(a)
        a4 = torch.stack(steps, 1)  # (S, H, 4)
        full = torch.cat([a4[..., :3], torch.zeros(S, H, 3), a4[..., 3:]], -1)
        samples_seen.append(full)
        elite = a4[_energy(full).topk(K, largest=False).indices]
        em, es = elite.mean(0), elite.std(0)
        mean = torch.cat(
            [em[:, :3] * 0.75 + mean[:, :3] * 0.25, em[:, 3:] * 0.85 + mean[:, 3:] * 0.15], -1
        )
        std = torch.cat(
            [es[:, :3] * 0.05 + std[:, :3] * 0.95, es[:, 3:] * 0.85 + std[:, 3:] * 0.15], -1
        )
    g = mean[:, 3].clone()
    g[g.abs() < 0.25] = 0.0
    action = torch.cat([mean[:, :3], torch.zeros(H, 3), g[:, None]], -1)
    return samples_seen, mean, std, action


def _run_ours(close_from: int | None = None):
    cfg = get_preset("reference", close_gripper_from_step=close_from).cem
    seen = []

    def fn(a):
        seen.append(a.clone())
        return _energy(a)

    res = CEM(cfg).optimize(fn, generator=torch.Generator().manual_seed(123))
    return seen, res


def test_reference_cem_matches_the_released_update_step_by_step():
    seen, res = _run_ours()
    ref_seen, ref_mean, ref_std, ref_action = _released_rule(torch.Generator().manual_seed(123))
    assert len(seen) == ITERS and res.iterations == ITERS
    for it, (ours, theirs) in enumerate(zip(seen, ref_seen, strict=True)):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6, msg=f"iteration {it}")
    cols = [0, 1, 2, 6]
    torch.testing.assert_close(res.mean[:, cols], ref_mean, rtol=0, atol=1e-6)
    torch.testing.assert_close(res.std[:, cols], ref_std, rtol=0, atol=1e-6)
    torch.testing.assert_close(res.actions, ref_action, rtol=0, atol=1e-6)
    assert (res.std[:, 3:6] == 0).all() and (res.actions[:, 3:6] == 0).all()
    # the run did something: near the target, and the slowly shrinking xyz std (m = 0.95)
    assert float((res.actions[:, :3].sum(0) - TARGET).abs().sum()) < 0.02
    assert 0.02 < float(res.std[0, 0]) < MAXNORM
    # the deadband: step 0's gripper mean is small and is sent as 0
    assert 0 < abs(float(res.mean[0, 6])) < 0.25 and float(res.actions[0, 6]) == 0.0
    assert float(res.actions[1, 6]) == float(res.mean[1, 6]) < -0.25


def test_reference_cem_close_gripper_schedule_matches():
    seen, res = _run_ours(close_from=1)
    ref_seen, _ref_mean, _, ref_action = _released_rule(torch.Generator().manual_seed(123), 1)
    for ours, theirs in zip(seen, ref_seen, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
        assert (ours[:, 1, 6] == 1.0).all()
    torch.testing.assert_close(res.actions, ref_action, rtol=0, atol=1e-6)
    assert float(res.actions[1, 6]) > 0.75  # the forced step's mean goes past the clip
    assert CEM(get_preset("reference", close_gripper_from_step=1).cem).within_limits(res.actions)
