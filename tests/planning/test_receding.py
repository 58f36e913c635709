"""Receding-horizon planner, warm starts, and presets (synthetic world model)."""

import math

import pytest
import torch

from vjepa2_world_model.planning import (
    PlannerConfig,
    RecedingHorizonPlanner,
    apply_action,
    get_preset,
)
from vjepa2_world_model.planning.cem import CEMConfig
from vjepa2_world_model.planning.synthetic import LinearPoseWorldModel

S0 = torch.tensor([0.45, -0.05, 0.25, math.pi, 0.0, 0.3, 0.0])


def _closed_loop(planner, wm, goal_state, steps):
    s, results = S0.clone(), []
    z_goal = wm.features(goal_state)
    for _ in range(steps):
        r = planner.plan(wm.features(s), s, z_goal)
        results.append(r)
        s = apply_action(s, r.action)
    return s, results


def test_closed_loop_reaches_far_goal():
    wm = LinearPoseWorldModel(seed=2)
    goal_state = S0 + torch.tensor([0.15, 0.1, -0.08, 0, 0, 0, 1.0])
    cfg = get_preset("cpu", num_samples=100, iterations=6)
    planner = RecedingHorizonPlanner(wm, cfg)
    s, res = _closed_loop(planner, wm, goal_state, 8)
    assert (s[:3] - goal_state[:3]).norm() < 0.01 and s[6] > 0.95
    assert res[-1].obs_energy < res[0].obs_energy / 10
    for r in res:
        assert r.ok and r.action.shape == (7,) and r.actions.shape == (1, 7)
        assert r.action[:3].abs().sum() <= 0.075 + 1e-6 and r.plan_ms > 0
    assert wm.calls == 8 * 6  # one batched rollout per CEM iteration


@pytest.mark.parametrize("horizon", [1, 2])
def test_warm_start_converges_in_fewer_iterations(horizon):
    wm = LinearPoseWorldModel(seed=3)
    goal_state = S0 + torch.tensor([0.3, -0.2, 0.1, 0, 0, 0, 0.0])  # many steps away
    weights = None if horizon == 1 else (0.5, 1.0)  # both frames: identifiable optimum

    def iters(warm):
        cem = CEMConfig(
            num_samples=150,
            iterations=30,
            top_k=10,
            horizon=horizon,
            maxnorm=0.05,
            stop_std=2e-3,
            search_dims=(0, 1, 2),
        )
        cfg = PlannerConfig(cem=cem, warm_start=warm, energy_weights=weights)
        _, res = _closed_loop(RecedingHorizonPlanner(wm, cfg), wm, goal_state, 5)
        assert all(r.ok and r.iterations < 30 for r in res)
        return [r.iterations for r in res[1:]]  # step 0 is a cold start in both

    cold, warm = iters(False), iters(True)
    assert sum(warm) < sum(cold) and all(w <= c for w, c in zip(warm, cold, strict=True)), (
        warm,
        cold,
    )


def test_same_seed_same_plans_and_reset():
    wm = LinearPoseWorldModel(seed=4)
    goal_state = S0 + torch.tensor([0.05, 0.05, 0, 0, 0, 0, 0])
    cfg = get_preset("reference", num_samples=64, iterations=4)
    a = _closed_loop(RecedingHorizonPlanner(wm, cfg), wm, goal_state, 3)[1]
    p = RecedingHorizonPlanner(wm, cfg)
    b = _closed_loop(p, wm, goal_state, 3)[1]
    assert all(torch.equal(x.actions, y.actions) for x, y in zip(a, b, strict=True))
    p.reset()
    assert p.steps == 0 and torch.equal(p.plan(wm.features(S0), S0).actions, a[0].actions)


def test_goal_is_cached_and_change_drops_warm_start():
    wm = LinearPoseWorldModel(seed=5)
    p = RecedingHorizonPlanner(wm, get_preset("cpu", num_samples=32, iterations=2))
    g1, g2 = wm.features(S0 + 0.01), wm.features(S0 - 0.01)
    p.plan(wm.features(S0), S0, g1)
    cached = p.goal
    p.plan(wm.features(S0), S0, g1)
    assert p.goal is cached and p._prev is not None
    p.set_goal(g2)
    assert p.goal is not cached and p._prev is None
    with pytest.raises(ValueError, match="no goal"):
        RecedingHorizonPlanner(wm, get_preset("cpu")).plan(wm.features(S0), S0)
    with pytest.raises(ValueError, match="state"):
        p.plan(wm.features(S0), torch.zeros(6))


class _NaNModel(LinearPoseWorldModel):
    def rollout(self, z0, s0, actions):
        return torch.full_like(super().rollout(z0, s0, actions), math.nan)


def test_planner_all_nan_model_returns_zero_action_with_reason():
    wm = _NaNModel()
    p = RecedingHorizonPlanner(wm, get_preset("cpu", num_samples=16, iterations=3))
    r = p.plan(wm.features(S0), S0, LinearPoseWorldModel().features(S0 + 0.02))
    assert not r.ok and "non-finite" in r.reason
    assert torch.equal(r.action, torch.zeros(7)) and math.isnan(r.energy)
    r2 = p.plan(wm.features(S0), torch.full((7,), math.nan))
    assert not r2.ok and "state" in r2.reason and torch.equal(r2.action, torch.zeros(7))
    z_bad = wm.features(S0)
    z_bad[0, 0] = math.inf
    r3 = p.plan(z_bad, S0)
    assert not r3.ok and "observation" in r3.reason and torch.equal(r3.action, torch.zeros(7))


def test_presets_and_yaml_dicts():
    paper = get_preset("paper")
    assert (
        paper.cem.num_samples,
        paper.cem.iterations,
        paper.cem.top_k,
        paper.cem.horizon,
        paper.cem.limit,
        paper.cem.l1_radius,
    ) == (800, 10, 10, 1, "l1", 0.075)
    ref = get_preset("reference")
    assert (
        ref.cem.num_samples,
        ref.cem.horizon,
        ref.cem.maxnorm,
        ref.cem.gripper_clip,
        ref.cem.search_dims,
    ) == (400, 2, 0.05, 0.75, (0, 1, 2, 6))
    cfg = PlannerConfig.from_dict(
        {
            "preset": "reference",
            "cem": {"num_samples": 64},
            "iterations": 3,
            "rollout": "naive",
            "energy_weights": [0.5, 1.0],
            "search_dims": [0, 1, 2],
        }
    )
    assert (cfg.cem.num_samples, cfg.cem.iterations, cfg.rollout) == (64, 3, "naive")
    assert cfg.energy_weights == (0.5, 1.0) and cfg.cem.search_dims == (0, 1, 2)
    assert PlannerConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        PlannerConfig.from_dict({"num_sample": 3})
    with pytest.raises(ValueError, match="preset"):
        get_preset("fast")
    with pytest.raises(ValueError, match="energy_weights"):
        PlannerConfig.from_dict({"preset": "paper", "energy_weights": [1.0, 1.0]})


def test_hold_rule_stops_at_the_goal_but_not_on_the_way():
    wm = LinearPoseWorldModel(seed=6)
    goal_state = S0 + torch.tensor([0.1, 0.0, 0.0, 0, 0, 0, 0])
    cfg = get_preset("cpu", num_samples=64, iterations=4, search_dims=[0, 1, 2], hold_margin=0.0)
    planner = RecedingHorizonPlanner(wm, cfg)
    z_goal = wm.features(goal_state)
    far = planner.plan(wm.features(S0), S0, z_goal)  # 10 cm away: the plan beats holding
    assert not far.held and far.action[:3].abs().sum() > 0.03
    assert far.plan_energy < far.hold_energy
    at = planner.plan(wm.features(goal_state), goal_state, z_goal)  # at the goal: hold
    assert at.held and torch.equal(at.action, torch.zeros(7))
    assert at.hold_energy <= at.plan_energy
    calls = wm.calls
    off = RecedingHorizonPlanner(
        wm, get_preset("cpu", num_samples=64, iterations=4, search_dims=[0, 1, 2])
    )
    r = off.plan(wm.features(goal_state), goal_state, z_goal)
    assert not r.held and math.isnan(r.hold_energy) and wm.calls == calls + 4
    with pytest.raises(ValueError, match="hold_margin"):
        get_preset("cpu", hold_margin=-1.0)


def test_hold_rule_drops_a_gripper_change_that_does_not_help():
    wm = LinearPoseWorldModel(seed=7)
    cfg = get_preset(
        "cpu",
        num_samples=64,
        iterations=4,
        search_dims=[0, 1, 2, 6],
        init_std_gripper=0.5,
        hold_margin=0.0,
    )
    planner = RecedingHorizonPlanner(wm, cfg)
    goal_state = S0 + torch.tensor([0.1, 0.0, 0.0, 0, 0, 0, 0])  # move; gripper stays open
    r = planner.plan(wm.features(S0), S0, wm.features(goal_state))
    assert r.choice == "motion" and r.action[6] == 0 and r.action[0] > 0.03
    close = S0 + torch.tensor([0.0, 0.0, 0.0, 0, 0, 0, 1.0])  # here, but gripper closed
    planner = RecedingHorizonPlanner(wm, cfg)  # a new episode: no warm start from the move
    r = planner.plan(wm.features(S0), S0, wm.features(close))
    assert r.choice in ("gripper", "plan") and r.action[6] > 0.5


def test_gripper_margin_keeps_the_gripper_still_unless_the_gain_is_clear():
    wm = LinearPoseWorldModel(seed=8, scale=(10, 10, 10, 3, 3, 3, 0.01))  # gripper ~invisible
    close = S0 + torch.tensor([0.0, 0.0, 0.0, 0, 0, 0, 1.0])
    base = {
        "num_samples": 64,
        "iterations": 4,
        "search_dims": [0, 1, 2, 6],
        "init_std_gripper": 0.5,
        "hold_margin": 0.0,
    }
    r = RecedingHorizonPlanner(wm, get_preset("cpu", **base)).plan(
        wm.features(S0), S0, wm.features(close)
    )
    assert r.action[6] > 0.2  # margin 0: any predicted gain actuates the gripper
    r = RecedingHorizonPlanner(wm, get_preset("cpu", **base, gripper_margin=0.05)).plan(
        wm.features(S0), S0, wm.features(close)
    )
    assert r.action[6] == 0 and r.choice == "hold"  # the tiny gain does not pay the margin
    visible = LinearPoseWorldModel(seed=8)  # gripper clearly visible: the change pays off
    r = RecedingHorizonPlanner(visible, get_preset("cpu", **base, gripper_margin=0.05)).plan(
        visible.features(S0), S0, visible.features(close)
    )
    assert r.action[6] > 0.5
