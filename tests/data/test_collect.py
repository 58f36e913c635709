"""`vjepa2 collect` on the direct-stepping sim: MCAP episodes, 4 fps stamps, resumable."""

from __future__ import annotations

import json
import os

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

from vjepa2_world_model.data.bags import list_episodes, read_episode
from vjepa2_world_model.data.collect import ExplorationPolicy, main


def test_collect_writes_readable_episodes_and_resumes(tmp_path):
    out = tmp_path / "eps"
    args = ["--out", str(out), "--episodes", "2", "--steps", "4", "--size", "48"]
    assert main(args) == 0
    eps = list_episodes(out)
    assert [p.name for p in eps] == ["ep_00000", "ep_00001"]
    ep = read_episode(eps[0])
    assert ep.frames.shape == (5, 48, 48, 3) and ep.frames.std() > 1
    np.testing.assert_allclose(np.diff(ep.stamps), 0.25e9)
    info = json.loads((eps[0] / "episode_info.json").read_text())
    cmd = np.array(info["commanded_actions"])
    assert cmd.shape == (4, 7)
    # the recorded (measured) motion follows the commanded deltas
    np.testing.assert_allclose(ep.actions[:, :3], cmd[:, :3], atol=0.02)
    mtime = (eps[0] / "metadata.yaml").stat().st_mtime
    assert main(args + ["--episodes", "3"]) == 0  # resumes: only ep 2 is new
    assert (eps[0] / "metadata.yaml").stat().st_mtime == mtime
    assert len(list_episodes(out)) == 3


def test_policy_keeps_targets_in_workspace():
    from vjepa2_world_model.data.collect import WS_MAX, WS_MIN

    rng = np.random.default_rng(0)
    pol = ExplorationPolicy(rng)
    objs = {"cube": np.array([0.5, 0.1, 0.02]), "cup": np.array([0.45, -0.1, 0.0])}
    state = np.array([0.4, 0.0, 0.3, np.pi, 0, 0, 0])
    for _ in range(300):
        a = pol.act(state, objs)
        assert np.all(np.abs(a[:3]) <= 0.075 + 0.03)
        state = state.copy()
        state[:3] = state[:3] + a[:3]
        assert np.all(state[:3] >= WS_MIN - 1e-9) and np.all(state[:3] <= WS_MAX + 1e-9)


def test_grasp_attempts_do_not_always_close_at_the_object():
    """What follows the descent must vary (wait open / close / lift open): a model trained
    on episodes where the hand always closes at the object can ignore dgripper."""
    objects = {"cube": np.array([0.5, 0.0, 0.02]), "cup": np.array([0.45, 0.2, 0.05])}
    after_descent = set()
    for seed in range(300):
        pol = ExplorationPolicy(np.random.default_rng(seed))
        pol._new_segment(np.zeros(7), objects)
        kinds = [(k, g) for k, _, g in pol.plan]
        reaches = [i for i, (k, _) in enumerate(kinds) if k == "reach"]
        if len(reaches) < 10:
            continue  # not a grasp attempt
        nxt = kinds[reaches[9] + 1]  # the item after the 4th descent step
        after_descent.add(nxt if nxt[0] == "grip" else ("reach", 0.0))
    assert {("grip", 0.0), ("grip", 1.0), ("reach", 0.0)} <= after_descent


def test_grasp_attempts_include_regrasps_and_releases():
    """Some attempts re-grasp (close, open, close at the object) and most release."""
    objects = {"cube": np.array([0.5, 0.0, 0.02]), "cup": np.array([0.45, 0.2, 0.05])}
    regrasps = releases = attempts = 0
    for seed in range(300):
        pol = ExplorationPolicy(np.random.default_rng(seed))
        pol._new_segment(np.zeros(7), objects)
        grips = [g for k, _, g in pol.plan if k == "grip" and g != 0.0]
        if sum(k == "reach" for k, _, _ in pol.plan) < 10:
            continue
        attempts += 1
        regrasps += grips[:3] == [1.0, -1.0, 1.0]
        releases += bool(grips) and grips[-1] == -1.0
    assert attempts > 50
    assert 0.05 < regrasps / attempts < 0.4
    assert releases / attempts > 0.5
