"""State rollout (pose maths) and the planning energy."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from vjepa2_world_model.planning.energy import GoalEnergy, layer_norm
from vjepa2_world_model.planning.state import apply_action, roll_states


def test_apply_action_matches_scipy():
    g = torch.Generator().manual_seed(0)
    s = torch.rand(64, 7, generator=g, dtype=torch.float64) * 2 - 1
    a = torch.rand(64, 7, generator=g, dtype=torch.float64) * 0.6 - 0.3
    new = apply_action(s, a)
    r_new = Rotation.from_euler("xyz", a[:, 3:6].numpy()) * Rotation.from_euler(
        "xyz", s[:, 3:6].numpy()
    )
    exp_m = r_new.as_matrix()
    got_m = Rotation.from_euler("xyz", new[:, 3:6].numpy()).as_matrix()
    np.testing.assert_allclose(got_m, exp_m, atol=1e-9)
    torch.testing.assert_close(new[:, :3], s[:, :3] + a[:, :3])
    torch.testing.assert_close(new[:, 6], (s[:, 6] + a[:, 6]).clamp(0, 1))


def test_zero_rotation_keeps_euler_bitwise_and_gripper_clips():
    s0 = torch.tensor([0.4, 0.0, 0.3, math.pi, 0.0, -math.pi / 2, 0.9])
    acts = torch.tensor([[[0.01, 0.0, -0.02, 0, 0, 0, 0.5], [0.0, 0.01, 0.0, 0, 0, 0, -2.0]]])
    st = roll_states(s0, acts)
    assert st.shape == (1, 3, 7)
    assert torch.equal(st[0, :, 3:6], s0[3:6].expand(3, 3))  # roll = +pi stays +pi
    torch.testing.assert_close(st[0, 2, :3], s0[:3] + acts[0, :, :3].sum(0))
    assert st[0, 1, 6] == 1.0 and st[0, 2, 6] == 0.0


def test_gimbal_lock_round_trip():
    s = torch.tensor([[0.0, 0, 0, 0.0, math.pi / 2, 0.3, 0.0]], dtype=torch.float64)
    a = torch.tensor([[0.0, 0, 0, 0.0, 0.0, 0.2, 0.0]], dtype=torch.float64)
    new = apply_action(s, a)
    exp = Rotation.from_euler("xyz", [0, 0, 0.2]) * Rotation.from_euler(
        "xyz", [0, math.pi / 2, 0.3]
    )
    got = Rotation.from_euler("xyz", new[0, 3:6].numpy())
    np.testing.assert_allclose(got.as_matrix(), exp.as_matrix(), atol=1e-7)


def test_energy_last_frame_and_weights():
    g = torch.Generator().manual_seed(1)
    goal = torch.randn(8, 16, generator=g)
    pred = torch.randn(5, 3, 8, 16, generator=g)
    pred[2, -1] = goal * 3 + 1  # LN removes scale and shift -> zero energy
    e = GoalEnergy(goal)(pred)
    assert e.shape == (5,)
    assert e[2] < 1e-5 and (e[[0, 1, 3, 4]] > 0.5).all()
    manual = (layer_norm(pred[:, -1]) - layer_norm(goal)).abs().mean((-2, -1))
    torch.testing.assert_close(e, manual)
    w = GoalEnergy(goal, weights=[0.5, 0.0, 1.0])
    per = (layer_norm(pred) - layer_norm(goal)).abs().mean((-2, -1))
    torch.testing.assert_close(w(pred), 0.5 * per[:, 0] + per[:, 2])
    with pytest.raises(ValueError, match="horizon"):
        GoalEnergy(goal, weights=[1.0])(pred)
    with pytest.raises(ValueError, match="predictions"):
        GoalEnergy(goal)(torch.zeros(5, 3, 8, 15))


class FixedReadout(torch.nn.Module):
    """A readout head that 'sees' a fixed state in every goal image."""

    def __init__(self, state: torch.Tensor) -> None:
        super().__init__()
        self.state = torch.nn.Parameter(state.clone(), requires_grad=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.state.clone()


def test_state_energy_distance_alpha_and_angle_wrap():
    from vjepa2_world_model.planning import StateEnergy

    goal = torch.tensor([0.5, 0.0, 0.1, -math.pi + 1e-4, 0.0, 0.0, 1.0])
    se = StateEnergy(FixedReadout(goal), alpha=2.0, dims=(0, 1, 2, 3, 6))
    with pytest.raises(ValueError, match="set_goal"):
        se(torch.zeros(7), torch.zeros(1, 1, 7))
    torch.testing.assert_close(se.set_goal(torch.zeros(4, 8)), goal)
    s0 = torch.tensor([0.4, 0.0, 0.1, math.pi, 0.0, 0.0, 0.0])
    acts = torch.zeros(3, 2, 7)
    acts[1, :, 0] = 0.05  # two steps of +5 cm: lands on the goal's x
    acts[2, 0, 6] = 1.0  # closes the hand
    d = se.distance(s0, acts)
    # roll +pi vs -pi + 1e-4 is 1e-4 apart (wrapped), not 2 pi
    torch.testing.assert_close(
        d, torch.tensor([0.1 + 1.0, 0.0 + 1.0, 0.1]) + 1e-4, atol=1e-5, rtol=0
    )
    torch.testing.assert_close(se(s0, acts), 2.0 * d)
    with pytest.raises(ValueError, match="alpha"):
        StateEnergy(FixedReadout(goal), alpha=-1.0)


def test_planner_with_state_term_follows_the_readout_goal():
    """Visual goal at A, readout says B: alpha 0 plans toward A, a large alpha toward B."""
    from vjepa2_world_model.planning import RecedingHorizonPlanner, StateEnergy, get_preset
    from vjepa2_world_model.planning.synthetic import LinearPoseWorldModel

    wm = LinearPoseWorldModel(seed=3)
    s0 = torch.tensor([0.45, 0.0, 0.25, math.pi, 0.0, 0.0, 0.0])
    a = s0 + torch.tensor([0.05, 0.0, 0.0, 0, 0, 0, 0])
    b = s0 + torch.tensor([0.0, 0.05, 0.0, 0, 0, 0, 0])
    cfg = get_preset("cpu", num_samples=64, iterations=5)
    first = {}
    for alpha in (0.0, 50.0):
        se = StateEnergy(FixedReadout(b), alpha)
        p = RecedingHorizonPlanner(wm, cfg, state_energy=se)
        first[alpha] = p.plan(wm.features(s0), s0, wm.features(a)).action
    assert first[0.0][0] > 0.03 and abs(first[0.0][1]) < 0.02  # toward A (+x)
    assert first[50.0][1] > 0.03 and abs(first[50.0][0]) < 0.02  # toward B (+y)
