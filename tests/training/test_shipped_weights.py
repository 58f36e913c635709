"""The shipped weights: they load through the official-checkpoint loader (strict keys),
and on a fresh episode of the simulated cell (not in their training data) the AC
predictor beats the copy-last-frame baseline and ranks the true action above random ones.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("MUJOCO_GL", "egl")

from bench.eval_dynamics import evaluate_episode  # noqa: E402
from vjepa2_world_model.checkpoints import (  # noqa: E402
    load_official_ac,
    load_pair,  # noqa: E402
    to_official_layout,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ["sim_tiny", "sim_tiny_vjepa"]
GRIPPER_ERR_RATIO = 0.8  # gripper-only steps: model error / copy-last error below this
GRIPPER_WIN_SHARE = 0.8  # ... and the true gripper action beats a zeroed one this often


@pytest.fixture(scope="module")
def fresh_episode() -> tuple[np.ndarray, np.ndarray]:
    """32 exploration steps in the direct-stepping sim, seed far from the training seeds."""
    from vjepa2_world_model.data.collect import ExplorationPolicy
    from vjepa2_world_model.sim.direct import DirectSim

    sim = DirectSim()
    rng = np.random.default_rng(424242)
    state = sim.reset(seed=424242)
    policy = ExplorationPolicy(rng)
    frames, states = [sim.render(256, 256)], [state]
    for _ in range(32):
        try:
            state = sim.move_ee_delta(policy.act(state, sim.object_poses()))
        except ValueError:
            state = sim.move_ee_delta(np.zeros(7))
        frames.append(sim.render(256, 256))
        states.append(state)
    return np.stack(frames), np.stack(states)


@pytest.fixture(scope="module")
def gripper_episode() -> tuple[np.ndarray, np.ndarray]:
    """A scripted episode of gripper-only steps: close on the cube, open, re-grasp, lift,
    open and close in the air (fresh seed, not in the training data)."""
    from bench.scripted_moves import hand_around_cube
    from vjepa2_world_model.sim.direct import DirectSim

    sim = DirectSim()
    frames, states = [], []

    def shot() -> None:
        frames.append(sim.render(256, 256))
        states.append(sim.ee_state7())

    for seed in (434343, 454545):
        hand_around_cube(sim, seed)
        shot()
        for a in ([0, 0, 0, 0, 0, 0, 1.0], [0, 0, 0, 0, 0, 0, -1.0], [0, 0, 0, 0, 0, 0, 1.0],
                  [0, 0, 0.06, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, -1.0], [0, 0, 0, 0, 0, 0, 1.0],
                  [0, 0, 0, 0, 0, 0, -1.0]):
            sim.move_ee_delta(np.array(a))
            shot()
    return np.stack(frames), np.stack(states)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_load_through_the_official_loader(name: str, tmp_path: Path) -> None:
    enc, pred = load_pair(ROOT / "weights" / name, "cpu")
    path = tmp_path / "as_released.pt"
    torch.save(to_official_layout(enc, pred), path)  # the released files' layout
    enc2, pred2 = load_official_ac(path, enc.config, pred.config)  # strict key check
    img = torch.randint(0, 256, (1, 128, 128, 3), dtype=torch.uint8)
    with torch.no_grad():
        z, z2 = enc.encode_images(img), enc2.encode_images(img)
        a, s = torch.zeros(1, 1, 7), torch.zeros(1, 1, 7)
        p, p2 = pred(z[:, None], a, s), pred2(z2[:, None], a, s)
    assert torch.equal(z, z2) and torch.equal(p, p2)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_learned_the_cell_dynamics(name: str, fresh_episode) -> None:
    frames, states = fresh_episode
    enc, pred = load_pair(ROOT / "weights" / name, "cpu")
    with torch.no_grad():
        feats = enc.encode_images(torch.from_numpy(frames)).numpy()
    m = evaluate_episode(pred, feats, states, n_random=16, max_xyz=0.075,
                         rng=np.random.default_rng(0))
    err1, base1 = m["err1"].mean(), m["base1"].mean()
    err2, base2 = m["err2"].mean(), m["base2"].mean()
    assert err1 < 0.9 * base1, f"1-step {err1:.4f} vs copy-last {base1:.4f}"
    assert err2 < 0.9 * base2, f"2-step {err2:.4f} vs copy-last {base2:.4f}"
    assert m["win_frac"].mean() > 0.85, f"true action beats random {m['win_frac'].mean():.2f}"


def test_shipped_weights_predict_the_gripper(gripper_episode) -> None:
    """On steps that only open or close the hand, the predictor beats copy-last-frame and
    the true gripper action predicts the next frame better than a zeroed one."""
    frames, states = gripper_episode
    enc, pred = load_pair(ROOT / "weights" / SHIPPED[0], "cpu")
    with torch.no_grad():
        feats = enc.encode_images(torch.from_numpy(frames)).numpy()
    n = len(frames) // 2  # two scripted runs, evaluated apart (no step across the reset)
    runs = [evaluate_episode(pred, feats[i:i + n], states[i:i + n], n_random=4, max_xyz=0.075,
                             rng=np.random.default_rng(0)) for i in (0, n)]
    # gripper-only steps: the hand opened or closed (closing on the cube reaches ~0.5)
    # while it stayed within 5 mm
    grip = np.concatenate([(np.abs(np.diff(states[i:i + n, 6])) > 0.25)
                           & (np.linalg.norm(np.diff(states[i:i + n, :3], axis=0), axis=1) < 0.005)
                           for i in (0, n)])
    assert grip.sum() >= 8, "the scripted episode must have gripper-only steps"
    err1 = np.concatenate([m["err1"] for m in runs])[grip]
    base1 = np.concatenate([m["base1"] for m in runs])[grip]
    nogrip = np.concatenate([m["err_nogrip"] for m in runs])[grip]
    assert err1.mean() < GRIPPER_ERR_RATIO * base1.mean(), (err1.mean(), base1.mean())
    assert (err1 < nogrip).mean() >= GRIPPER_WIN_SHARE, (err1 < nogrip).mean()
