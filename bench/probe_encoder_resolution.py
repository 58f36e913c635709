"""Does a larger encoder input make the gripper visible in the energy?

In the direct-stepping sim, with the open hand around the cube, photograph the scene open,
closed, and with the open hand moved 1 cm and 2 cm sideways. Encode the frames with the
shipped encoder at its own resolution and at larger ones (RoPE: the weights run at any
multiple of the patch size) and print the energy (mean L1 of layer-normed features) between
open and closed next to the energy of the small moves. The planner can only close the hand
for a goal photographed closed if the open/closed gap is comparable with the motions it
already tells apart.

    MUJOCO_GL=egl python -m bench.probe_encoder_resolution --sizes 128 256
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

import numpy as np
import torch

from bench.scripted_moves import drive_to, hand_around_cube


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.probe_encoder_resolution", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--weights", default="weights/sim_tiny")
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--render", type=int, default=256, help="camera frame side (pixels)")
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--seed", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--sim-config",
        default=None,
        help="cell config YAML (camera framing); default config/sim_cell.yaml",
    )
    args = ap.parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "egl")
    torch.set_num_threads(args.threads)
    from vjepa2_world_model.checkpoints import load_pair
    from vjepa2_world_model.planning import energy, layer_norm
    from vjepa2_world_model.sim.config import load_config
    from vjepa2_world_model.sim.direct import DirectSim

    enc, _ = load_pair(Path(args.weights), "cpu")
    sim = DirectSim(load_config(args.sim_config))

    frames: list[dict[str, np.ndarray]] = []
    for t in range(args.trials):
        _, grasp = hand_around_cube(sim, args.seed + t, tol=0.003)
        shot = {"open": sim.render(args.render, args.render)}
        drive_to(sim, grasp, dgripper=1.0, tol=0.003)
        shot["closed"] = sim.render(args.render, args.render)
        drive_to(sim, grasp, dgripper=-1.0, tol=0.003)
        for cm in (1, 2):
            drive_to(sim, grasp + np.array([0.0, 0.01 * cm, 0.0]), tol=0.003)
            shot[f"move {cm} cm"] = sim.render(args.render, args.render)
        frames.append(shot)

    print(
        f"energy to the open-hand frame (median over {args.trials} cube poses; "
        f"camera {args.render} px, encoder {Path(args.weights).name})"
    )
    print(
        f"{'input px':>8} {'tokens':>6} {'closed':>8} {'1 cm':>8} {'2 cm':>8} "
        f"{'closed/1cm':>10} {'max-token closed/1cm':>20}"
    )
    base_cfg = enc.cfg
    for size in args.sizes:
        enc.cfg = dataclasses.replace(base_cfg, img_size=size)
        gaps: dict[str, list[float]] = {k: [] for k in ("closed", "move 1 cm", "move 2 cm")}
        tok_ratio = []
        with torch.no_grad():
            for shot in frames:
                z = {
                    k: layer_norm(enc.encode_images(torch.from_numpy(v)[None])[0])
                    for k, v in shot.items()
                }
                for k in gaps:
                    gaps[k].append(float(energy(z[k][None], z["open"]).item()))
                per_tok = {
                    k: (z[k] - z["open"]).abs().mean(-1).max().item()
                    for k in ("closed", "move 1 cm")
                }
                tok_ratio.append(per_tok["closed"] / per_tok["move 1 cm"])
        med = {k: float(np.median(v)) for k, v in gaps.items()}
        n_tok = (size // enc.cfg.patch) ** 2
        print(
            f"{size:>8} {n_tok:>6} {med['closed']:>8.4f} {med['move 1 cm']:>8.4f} "
            f"{med['move 2 cm']:>8.4f} {med['closed'] / med['move 1 cm']:>10.2f} "
            f"{float(np.median(tok_ratio)):>20.2f}"
        )
    enc.cfg = base_cfg
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
