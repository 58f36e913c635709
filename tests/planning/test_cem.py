"""CEM on a synthetic world model whose optimum is known analytically."""

import math

import pytest
import torch

from vjepa2_world_model.planning.cem import CEM, CEMConfig, project_l1_ball
from vjepa2_world_model.planning.energy import GoalEnergy
from vjepa2_world_model.planning.synthetic import LinearPoseWorldModel

S0 = torch.tensor([0.45, -0.05, 0.25, math.pi, 0.0, 0.3, 0.0])


def _problem(delta, seed=0):
    wm = LinearPoseWorldModel(seed=seed)
    goal = GoalEnergy(wm.features(S0 + torch.tensor(delta)))
    z0 = wm.features(S0)
    return wm, lambda a: goal(wm.rollout(z0, S0, a))


@pytest.mark.parametrize("limit", ["box", "l1"])
def test_reaches_analytic_optimum(limit):
    delta = [0.03, -0.02, 0.015, 0, 0, 0, 0.6]
    _, fn = _problem(delta)
    cfg = CEMConfig(
        num_samples=200,
        iterations=10,
        top_k=10,
        horizon=1,
        limit=limit,
        maxnorm=0.05,
        l1_radius=0.075,
        gripper_clip=1.0,
    )
    res = CEM(cfg).optimize(fn)
    assert res.ok and res.iterations == 10
    torch.testing.assert_close(res.actions[0], torch.tensor(delta), atol=2e-3, rtol=0)
    assert res.history[-1] < res.history[0] / 50


def test_horizon_two_reaches_goal_with_sum_of_steps():
    delta = torch.tensor([0.08, -0.06, 0.0, 0, 0, 0, 0.0])  # needs two box-limited steps
    _, fn = _problem(delta.tolist())
    cfg = CEMConfig(num_samples=300, iterations=12, horizon=2, maxnorm=0.05, search_dims=(0, 1, 2))
    res = CEM(cfg).optimize(fn)
    torch.testing.assert_close(res.actions.sum(0), delta, atol=4e-3, rtol=0)


def test_limits_hold_for_every_sample_and_result():
    delta = [0.5, -0.4, 0.3, 0.4, -0.4, 0.4, 3.0]  # far outside every limit
    _, fn = _problem(delta)
    for cfg in [
        CEMConfig(
            num_samples=64,
            iterations=4,
            horizon=2,
            limit="box",
            maxnorm=0.05,
            gripper_clip=0.75,
            search_dims=tuple(range(7)),
            rot_maxnorm=0.1,
        ),
        CEMConfig(
            num_samples=64,
            iterations=4,
            horizon=2,
            limit="l1",
            l1_radius=0.075,
            gripper_clip=0.75,
            init_std=0.2,
            init_std_gripper=2.0,
        ),
    ]:
        cem = CEM(cfg)
        seen = []

        def checked(a, cem=cem, seen=seen):
            assert cem.within_limits(a)
            seen.append(a)
            return fn(a)

        res = cem.optimize(checked)
        assert len(seen) == 4  # one batched call per iteration
        assert cem.within_limits(res.actions) and cem.within_limits(res.best_actions)
        if cfg.limit == "l1":  # unsearched rotation stays exactly 0
            assert (res.actions[:, 3:6] == 0).all() and (res.best_actions[:, 3:6] == 0).all()


def test_project_l1_ball():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(500, 3, generator=g) * 0.1
    p = project_l1_ball(x, 0.075)
    assert (p.abs().sum(-1) <= 0.075 + 1e-6).all()
    inside = x.abs().sum(-1) <= 0.075
    assert torch.equal(p[inside], x[inside])
    # projection property: no feasible point on a grid of the ball is closer
    cand = project_l1_ball(torch.randn(4000, 3, generator=g), 0.075)
    for i in range(20):
        best = (cand - x[i]).norm(dim=-1).min()
        assert (p[i] - x[i]).norm() <= best + 1e-6


def test_deterministic_with_seed():
    _, fn = _problem([0.02, 0.01, 0.0, 0, 0, 0, 0.3])
    cfg = CEMConfig(num_samples=100, iterations=5, horizon=2, seed=7)
    a, b = CEM(cfg).optimize(fn), CEM(cfg).optimize(fn)
    assert torch.equal(a.actions, b.actions) and a.history == b.history
    c = CEM(CEMConfig(num_samples=100, iterations=5, horizon=2, seed=8)).optimize(fn)
    assert not torch.equal(a.actions, c.actions)


def test_nan_and_inf_samples_are_discarded():
    delta = [0.03, -0.02, 0.01, 0, 0, 0, 0.5]
    _, fn = _problem(delta)

    def poisoned(a):
        e = fn(a)
        e[a[:, 0, 1] > -0.01] = math.nan  # roughly half the samples
        e[a[:, 0, 2] > 0.03] = math.inf
        return e

    cfg = CEMConfig(num_samples=200, iterations=10, horizon=1, limit="l1", gripper_clip=1.0)
    res = CEM(cfg).optimize(poisoned)
    assert res.ok and res.num_bad > 100
    assert math.isfinite(res.energy) and math.isfinite(res.best_energy)
    torch.testing.assert_close(res.actions[0], torch.tensor(delta), atol=3e-3, rtol=0)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_all_bad_energies_give_zero_action_and_reason(bad):
    cfg = CEMConfig(num_samples=50, iterations=5, horizon=2)
    res = CEM(cfg).optimize(lambda a: torch.full((a.shape[0],), bad))
    assert not res.ok and "non-finite" in res.reason and res.iterations == 1
    assert torch.equal(res.actions, torch.zeros(2, 7))
    assert res.num_bad == 50


def test_config_validation():
    with pytest.raises(ValueError, match="top_k"):
        CEM(CEMConfig(num_samples=5, top_k=10))
    with pytest.raises(ValueError, match="limit"):
        CEM(CEMConfig(limit="l2"))
    with pytest.raises(ValueError, match="search_dims"):
        CEM(CEMConfig(search_dims=(0, 7)))
    with pytest.raises(ValueError, match="energy_fn"):
        CEM(CEMConfig(num_samples=20)).optimize(lambda a: torch.zeros(3))
