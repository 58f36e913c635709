"""`vjepa2 calibrate-axes`: how well the world model infers the robot's action axes.

For recorded transitions (frame t -> frame t+1 with the robot's true action), the
planner infers the action from the two images alone (one CEM step with frame t+1 as the
goal). The translations it infers are compared with the true ones, and the least-squares
rotation between them is fitted (``action_axes.fit_axis_rotation``). A large rotation
angle means the camera sees the cell from a viewpoint the model maps to the wrong axes
(the paper's camera-sensitivity finding); ``calibration/axes.yaml`` stores the fit.

    vjepa2 calibrate-axes --checkpoint weights/sim_tiny --episodes data/sim/episodes
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import yaml

from calibration.action_axes import fit_axis_rotation


def infer_actions(
    checkpoint: str, episodes: list[Path], max_transitions: int, preset: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(true xyz, inferred xyz) for up to ``max_transitions`` recorded transitions."""
    from vjepa2_world_model.checkpoints import load_pair
    from vjepa2_world_model.data.actions import actions_from_states
    from vjepa2_world_model.data.bags import read_episode
    from vjepa2_world_model.planning import (
        RecedingHorizonPlanner,
        get_preset,
        layer_norm,
        make_rollout,
    )

    encoder, predictor = load_pair(checkpoint, "cpu")
    cfg = get_preset(preset, horizon=1, warm_start=False, seed=seed)
    planner = RecedingHorizonPlanner(make_rollout(predictor), cfg)
    true_xyz, inferred_xyz = [], []
    for path in episodes:
        ep = read_episode(path)
        with torch.no_grad():
            z = layer_norm(encoder.encode_images(torch.from_numpy(ep.frames)))
        actions = actions_from_states(ep.states)
        for t in range(len(actions)):
            if np.linalg.norm(actions[t, :3]) < 0.01:  # too small to tell a direction
                continue
            planner.reset()
            res = planner.plan(z[t], torch.from_numpy(ep.states[t]).float(), z[t + 1])
            if res.ok:
                true_xyz.append(actions[t, :3])
                inferred_xyz.append(res.action[:3].numpy())
            if len(true_xyz) >= max_transitions:
                return np.array(true_xyz), np.array(inferred_xyz)
    return np.array(true_xyz), np.array(inferred_xyz)


def main(argv: list[str] | None = None) -> int:
    """``vjepa2 calibrate-axes --checkpoint DIR --episodes DIR [--transitions N]``."""
    ap = argparse.ArgumentParser(prog="vjepa2 calibrate-axes", description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default="weights/sim_tiny")
    ap.add_argument("--episodes", required=True, help="dir of recorded MCAP episodes")
    ap.add_argument("--transitions", type=int, default=60)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="calibration/axes.yaml")
    ns = ap.parse_args(argv)
    from vjepa2_world_model.data.bags import list_episodes

    episodes = list_episodes(ns.episodes)
    if not episodes:
        raise SystemExit(f"no episodes under {ns.episodes}")
    true_xyz, inferred = infer_actions(ns.checkpoint, episodes, ns.transitions, ns.preset, ns.seed)
    cal = fit_axis_rotation(true_xyz, inferred)
    cos = np.sum(true_xyz * inferred, 1) / (
        np.linalg.norm(true_xyz, axis=1) * np.linalg.norm(inferred, axis=1) + 1e-12
    )
    print(f"transitions: {len(true_xyz)}")
    print(f"median cosine(true, inferred direction): {np.median(cos):.3f}")
    print(
        f"fitted axis rotation: {cal.angle_deg:.1f} deg "
        f"(rotvec {np.round(cal.rotation.as_rotvec(), 3).tolist()})"
    )
    print(
        f"translation RMS error: {100 * cal.rms_before:.2f} cm -> "
        f"{100 * cal.rms_after:.2f} cm after rotation"
    )
    Path(ns.out).parent.mkdir(parents=True, exist_ok=True)
    Path(ns.out).write_text(
        yaml.safe_dump(
            {
                "checkpoint": ns.checkpoint,
                "transitions": len(true_xyz),
                "rotvec": cal.rotation.as_rotvec().tolist(),
                "angle_deg": cal.angle_deg,
                "rms_before_m": cal.rms_before,
                "rms_after_m": cal.rms_after,
                "median_cosine": float(np.median(cos)),
            },
            sort_keys=False,
        )
    )
    print(f"wrote {ns.out}")
    return 0
