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

from bench.eval_dynamics import evaluate_episode
from vjepa2_world_model.checkpoints import (
    load_official_ac,
    load_pair,
    to_official_layout,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ["sim_tiny", "sim_tiny_vjepa"]  # exterior camera (config/sim_cell.yaml)
WRIST = "sim_wrist"  # exterior view + wrist strip (config/sim_cell_wrist.yaml)
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
def gripper_episode(tmp_path_factory) -> tuple[np.ndarray, np.ndarray]:
    """A fresh 48-step exploration episode of the wrist-camera cell (grasps, releases,
    gripper toggles), recorded and read back as `vjepa2 collect` does, from a seed far from
    the training seeds."""
    from vjepa2_world_model.data.bags import read_episode
    from vjepa2_world_model.data.collect import collect_episode
    from vjepa2_world_model.sim.config import load_config
    from vjepa2_world_model.sim.direct import DirectSim

    sim = DirectSim(load_config(ROOT / "config" / "sim_cell_wrist.yaml"))
    path = tmp_path_factory.mktemp("wrist") / "ep"
    collect_episode(sim, path, seed=474747, steps=48, size=256)
    ep = read_episode(path)
    return ep.frames, ep.states


@pytest.mark.parametrize("name", [*SHIPPED, WRIST])
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
    m = evaluate_episode(
        pred, feats, states, n_random=16, max_xyz=0.075, rng=np.random.default_rng(0)
    )
    err1, base1 = m["err1"].mean(), m["base1"].mean()
    err2, base2 = m["err2"].mean(), m["base2"].mean()
    assert err1 < 0.9 * base1, f"1-step {err1:.4f} vs copy-last {base1:.4f}"
    assert err2 < 0.9 * base2, f"2-step {err2:.4f} vs copy-last {base2:.4f}"
    assert m["win_frac"].mean() > 0.85, f"true action beats random {m['win_frac'].mean():.2f}"


def test_wrist_weights_predict_the_gripper(gripper_episode) -> None:
    """The wrist-camera model: on steps that only open or close the hand, the predictor
    beats copy-last-frame and the true gripper action predicts the next frame better than
    a zeroed one."""
    frames, states = gripper_episode
    enc, pred = load_pair(ROOT / "weights" / WRIST, "cpu")
    with torch.no_grad():
        feats = enc.encode_images(torch.from_numpy(frames)).numpy()
    m = evaluate_episode(
        pred, feats, states, n_random=4, max_xyz=0.075, rng=np.random.default_rng(0)
    )
    # gripper-only steps: the hand opened or closed (closing on the cube reaches ~0.5)
    # while it stayed within 5 mm
    grip = (np.abs(np.diff(states[:, 6])) > 0.5) & (
        np.linalg.norm(np.diff(states[:, :3], axis=0), axis=1) < 0.005
    )
    assert grip.sum() >= 4, "the episode must have gripper-only steps"
    err1, base1, nogrip = m["err1"][grip], m["base1"][grip], m["err_nogrip"][grip]
    assert err1.mean() < GRIPPER_ERR_RATIO * base1.mean(), (err1.mean(), base1.mean())
    assert (err1 < nogrip).mean() >= GRIPPER_WIN_SHARE, (err1 < nogrip).mean()


def test_dynamics_bench_scores_token_rows_apart() -> None:
    """--token-rows: the L1 covers only the chosen rows of the square token grid."""
    import bench.eval_dynamics as ED

    a = torch.zeros(2, 64, 4)
    b = torch.zeros(2, 64, 4)
    b[:, 48:] = 1.0  # rows 6-7 of the 8x8 grid differ
    try:
        ED._ROWS = (0, 6)
        assert torch.allclose(ED._l1(a, b), torch.zeros(2))
        ED._ROWS = (6, 8)
        assert torch.allclose(ED._l1(a, b), torch.ones(2))
    finally:
        ED._ROWS = None
    assert torch.allclose(ED._l1(a, b), torch.full((2,), 0.25))
