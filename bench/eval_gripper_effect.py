"""How much does the AC predictor think a gripper action changes the energy?

In the direct-stepping sim: grasp the cube with scripted moves, photograph the goal with
the cube held at a random pose, move a few cm away, then print the predicted energy of
one-step actions that only change the gripper (dgripper = 0, -0.25, -0.5, -1, +0.5). If the
differences are far below the energy differences of motions, gripper decisions taken from
this model are noise; the planner's ``gripper_margin`` is sized from this.

Second, the decision a grasp needs: with the open hand around the cube, is closing
(dgripper = +1) predicted closer to a goal photographed with the hand closed on the cube,
and staying open closer to a goal photographed open, than the alternative? 50% is chance.
The energy of the real next frame (encoded, not predicted) is printed next to it: the
encoder's own gap between "open" and "closed" is what the predictor would have to resolve.

    MUJOCO_GL=egl python -m bench.eval_gripper_effect --weights weights/sim_tiny
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch

from bench.scripted_moves import drive_to, hand_around_cube

GRIPPER_DELTAS = (0.0, -0.25, -0.5, -1.0, 0.5)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.eval_gripper_effect", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--weights", default="weights/sim_tiny")
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--seed", type=int, default=100)
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
    from vjepa2_world_model.planning import energy, layer_norm, make_rollout
    from vjepa2_world_model.sim.config import load_config
    from vjepa2_world_model.sim.direct import DirectSim

    enc, pred = load_pair(Path(args.weights), "cpu")
    rollout = make_rollout(pred)
    sim = DirectSim(load_config(args.sim_config))
    rng = np.random.default_rng(args.seed)

    def feats() -> torch.Tensor:
        return enc.encode_images(torch.from_numpy(sim.render(256, 256))[None])[0]

    spreads = []
    print(
        f"predicted energy for dgripper = {GRIPPER_DELTAS} (cube held, hand 0-6 cm from "
        "the goal pose)"
    )
    for t in range(args.trials):
        _, grasp = hand_around_cube(sim, args.seed + t)
        drive_to(sim, grasp, dgripper=1.0)
        goal = np.array([0.45, 0.0, 0.2]) + rng.uniform(-0.1, 0.1, 3) * [1, 1, 0.5]
        drive_to(sim, goal)
        with torch.no_grad():
            z_goal = layer_norm(feats())
            drive_to(sim, goal + rng.uniform(-0.06, 0.06, 3))
            held = bool(sim.object_poses()["cube"][2] > 0.05)
            acts = torch.zeros(len(GRIPPER_DELTAS), 1, 7)
            acts[:, 0, 6] = torch.tensor(GRIPPER_DELTAS)
            state = torch.tensor(sim.ee_state7(), dtype=torch.float32)
            e = energy(rollout.rollout(feats(), state, acts), z_goal).numpy()
        spreads.append(float(e.max() - e.min()))
        print(
            f"trial {t}: cube held {held}, energies {np.round(e, 4).tolist()}, "
            f"spread {spreads[-1]:.4f}"
        )
    print(f"median spread over gripper actions: {np.median(spreads):.4f} (max {max(spreads):.4f})")

    print(
        "\ngrasp decision with the open hand around the cube (predicted energy; "
        "encoded open/closed frames' gap in brackets)"
    )
    right, gaps = [], []
    for t in range(args.trials):
        _, grasp = hand_around_cube(sim, args.seed + 1000 + t)
        with torch.no_grad():
            z_open = layer_norm(feats())
            drive_to(sim, grasp, dgripper=1.0)
            z_closed = layer_norm(feats())
            drive_to(sim, grasp, dgripper=-1.0)
            f = feats()
            state = torch.tensor(sim.ee_state7(), dtype=torch.float32)
            acts = torch.zeros(2, 1, 7)
            acts[1, 0, 6] = 1.0  # stay, close
            pred = rollout.rollout(f, state, acts)
            e_c, e_o = energy(pred, z_closed).numpy(), energy(pred, z_open).numpy()
            gap = float(energy(z_open[None], z_closed).item())
        right += [bool(e_c[1] < e_c[0]), bool(e_o[0] < e_o[1])]
        gaps.append(gap)
        print(
            f"trial {t}: goal closed: E(stay) {e_c[0]:.4f} E(close) {e_c[1]:.4f} | goal open: "
            f"E(stay) {e_o[0]:.4f} E(close) {e_o[1]:.4f} [gap {gap:.4f}]"
        )
    print(
        f"right gripper decision: {np.mean(right):.0%} of {len(right)} (chance 50%); "
        f"median encoded open/closed gap {np.median(gaps):.4f}"
    )

    print(
        "\ntwo-step grasp-and-lift (horizon 2) with the open hand around the cube: goal = "
        "the real frame after [close, lift 7 cm]; predicted energy of [close, lift] vs "
        "[stay open, lift] (real frames' energy in brackets). 'close' is dgripper +1 "
        "(state 1 = closed on nothing) and, second, the change to the gripper state the "
        "hand really reaches on the cube (~0.5), as in the training data"
    )
    lift = np.array([0.0, 0.0, 0.07, 0.0, 0.0, 0.0, 0.0])
    plans = {"close+lift": [np.eye(7)[6], lift], "open+lift": [np.zeros(7), lift]}
    right2, real_gaps, margins, right_h, margins_h = [], [], [], [], []
    for t in range(args.trials):
        real: dict[str, torch.Tensor] = {}
        lifted_cube = False
        for name, seq in plans.items():  # same seed, same scripted approach: same start
            cube, _ = hand_around_cube(sim, args.seed + 2000 + t)
            with torch.no_grad():
                if name == "close+lift":
                    f0 = feats()
                    s0 = torch.tensor(sim.ee_state7(), dtype=torch.float32)
                for i, a in enumerate(seq):
                    sim.move_ee_delta(a)
                    if name == "close+lift" and i == 0:
                        g_held = float(sim.ee_state7()[6])
                real[name] = layer_norm(feats())
            if name == "close+lift":
                lifted_cube = bool(sim.object_poses()["cube"][2] - cube[2] > 0.04)
        close_held = np.zeros(7)
        close_held[6] = g_held - float(s0[6])
        with torch.no_grad():
            seqs = [*plans.values(), [close_held, lift]]
            acts = torch.tensor(np.stack([np.stack(v) for v in seqs]), dtype=torch.float32)
            e = energy(rollout.rollout(f0, s0, acts), real["close+lift"]).numpy()
            real_gap = float(energy(real["open+lift"][None], real["close+lift"]).item())
        right2.append(bool(e[0] < e[1]))
        margins.append(float(e[1] - e[0]))
        right_h.append(bool(e[2] < e[1]))
        margins_h.append(float(e[1] - e[2]))
        real_gaps.append(real_gap)
        print(
            f"trial {t}: cube lifted by [close, lift] {lifted_cube}; predicted "
            f"E(close+lift) {e[0]:.4f} E(close to {g_held:.2f}+lift) {e[2]:.4f} "
            f"E(open+lift) {e[1]:.4f} [real open+lift {real_gap:.4f}]"
        )
    print(
        f"two-step: [close, lift] predicted closer in {np.mean(right2):.0%} of {len(right2)} "
        f"(chance 50%), by a median {np.median(margins):.4f}; closing to the held state: "
        f"{np.mean(right_h):.0%}, by {np.median(margins_h):.4f}; the real frames differ by "
        f"{np.median(real_gaps):.4f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
