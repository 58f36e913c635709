"""Closed-loop reaching in the simulated cell with the shipped world model + CEM planner.

Per trial: reset the cell (random object placement), drive the arm to a random target
pose with scripted deltas and capture the goal image there, reset to the same scene with
the arm at home, then plan with `RecedingHorizonPlanner` (encoder features of the live
frame, CEM over the AC predictor) and execute the first action each step, for
``--steps`` steps. The planner only sees images and the 7-D state; the target position
is used only for scoring (end-effector distance to it; success < ``--success-m``).

    python -m bench.eval_reach --trials 8 --steps 10 --preset cpu
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from bench.scripted_moves import drive_to

TARGET_LO = np.array([0.35, -0.2, 0.12])
TARGET_HI = np.array([0.65, 0.2, 0.40])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.eval_reach", description=__doc__.splitlines()[0]
    )
    ap.add_argument(
        "--weights", default="weights/sim_tiny", help="dir with encoder + ac_predictor .safetensors"
    )
    ap.add_argument("--encoder", default=None)
    ap.add_argument("--predictor", default=None)
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--samples", type=int, default=None, help="override CEM num_samples")
    ap.add_argument("--iterations", type=int, default=None, help="override CEM iterations")
    ap.add_argument(
        "--search-dims",
        default=None,
        help="override CEM search dims, e.g. 0,1,2 (xyz only: reaching keeps the gripper as it is)",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="planner config override (YAML value), e.g. hold_margin=0.002",
    )
    ap.add_argument("--success-m", type=float, default=0.04)
    ap.add_argument("--seed", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--sim-config",
        default=None,
        help="cell config YAML (camera framing); default config/sim_cell.yaml",
    )
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "egl")
    torch.set_num_threads(args.threads)
    from vjepa2_world_model.checkpoints import load_model
    from vjepa2_world_model.planning.presets import get_preset
    from vjepa2_world_model.planning.receding import RecedingHorizonPlanner
    from vjepa2_world_model.sim.config import load_config
    from vjepa2_world_model.sim.direct import DirectSim

    w = Path(args.weights)
    enc = load_model(args.encoder or w / "encoder.safetensors").eval()
    pred = load_model(args.predictor or w / "ac_predictor.safetensors").eval()
    ov = {}
    if args.samples:
        ov["num_samples"] = args.samples
    if args.iterations:
        ov["iterations"] = args.iterations
    if args.search_dims:
        ov["search_dims"] = [int(x) for x in args.search_dims.split(",")]
    for kv in args.set:
        key, _, val = kv.partition("=")
        ov[key.strip()] = yaml.safe_load(val)
    cfg = get_preset(args.preset, **ov)
    planner = RecedingHorizonPlanner.from_predictor(pred, cfg)
    sim = DirectSim(load_config(args.sim_config))
    size = int(sim.cfg["cameras"][sim.camera].get("width", 256))
    rng = np.random.default_rng(args.seed)

    def feats(img: np.ndarray) -> torch.Tensor:
        with torch.no_grad():
            return enc.encode_images(torch.from_numpy(img)[None])[0]

    rows = []
    t0 = time.time()
    for trial in range(args.trials):
        seed = args.seed + trial
        target = rng.uniform(TARGET_LO, TARGET_HI)
        sim.reset(seed=seed)
        drive_to(sim, target, max_step=0.075, iters=12, tol=0.005)
        goal_pos = sim.ee_state7()[:3].copy()
        z_goal = feats(sim.render(size, size))
        sim.reset(seed=seed)
        planner.reset()
        dists = [float(np.linalg.norm(sim.ee_state7()[:3] - goal_pos))]
        energies, holds = [], 0
        for _ in range(args.steps):
            s = sim.ee_state7()
            res = planner.plan(
                feats(sim.render(size, size)), torch.tensor(s, dtype=torch.float32), z_goal
            )
            energies.append(res.obs_energy)
            holds += res.held
            sim.move_ee_delta(res.action.numpy().astype(np.float64))
            dists.append(float(np.linalg.norm(sim.ee_state7()[:3] - goal_pos)))
        rows.append(
            {
                "trial": trial,
                "start_m": dists[0],
                "final_m": dists[-1],
                "min_m": min(dists),
                "dists": dists,
                "obs_energy": energies,
                "holds": holds,
            }
        )
        print(
            f"trial {trial}: start {dists[0] * 100:.1f} cm -> final {dists[-1] * 100:.1f} cm "
            f"(min {min(dists) * 100:.1f}); energy {energies[0]:.3f} -> {energies[-1]:.3f}; "
            f"{holds} holds",
            flush=True,
        )
    start = np.array([r["start_m"] for r in rows])
    final = np.array([r["final_m"] for r in rows])
    res = {
        "trials": len(rows),
        "steps": args.steps,
        "preset": args.preset,
        "mean_start_cm": float(start.mean() * 100),
        "mean_final_cm": float(final.mean() * 100),
        "median_final_cm": float(np.median(final) * 100),
        "success_rate": float((final < args.success_m).mean()),
        "improved_share": float((final < start).mean()),
        "wall_s": round(time.time() - t0),
    }
    print(
        f"reach: {res['trials']} trials x {args.steps} steps: mean distance "
        f"{res['mean_start_cm']:.1f} -> {res['mean_final_cm']:.1f} cm (median final "
        f"{res['median_final_cm']:.1f}); success (< {args.success_m * 100:.0f} cm) "
        f"{100 * res['success_rate']:.0f}%; closer than start {100 * res['improved_share']:.0f}%"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": res, "trials": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
