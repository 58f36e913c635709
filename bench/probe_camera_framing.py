"""How much of the camera image (and of the encoder's token grid) the hand covers.

Renders the cell's exterior camera with MuJoCo's segmentation pass at scripted hand
poses over the workspace (open hand above the table, at the cube, closed around it) and
prints, per pose set: the share of pixels on the hand + fingers, the share of patch tokens
that see any of them (at the given model input size and patch), and the same for the
fingers alone (what changes when the hand closes).

    MUJOCO_GL=egl python -m bench.probe_camera_framing [--config config/sim_cell.yaml]
        [--pos X Y Z --lookat X Y Z --fovy F] [--input 128 --patch 16]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco
import numpy as np


def _segment(sim, camera: str, size: int, height: int | None = None) -> np.ndarray:
    """(height, size) body id per pixel (-1 = background); a stacked view part by part."""
    from vjepa2_world_model.sim.render import stacked_views

    height = size if height is None else height
    parts = stacked_views(sim.cfg["cameras"]).get(camera)
    if parts:
        rows: list[np.ndarray] = []
        for i, (cam, share) in enumerate(parts):
            h = (
                height - sum(len(r) for r in rows)
                if i == len(parts) - 1
                else max(1, round(height * share))
            )
            rows.append(_segment(sim, cam, size, h))
        return np.vstack(rows)
    r = mujoco.Renderer(sim.model, height=height, width=size)
    r.enable_segmentation_rendering()
    r.update_scene(sim.data, camera=camera)
    seg = r.render()
    r.close()
    geom_ids = seg[..., 0]
    body = np.full(geom_ids.shape, -1, dtype=np.int64)
    ok = (geom_ids >= 0) & (seg[..., 1] == mujoco.mjtObj.mjOBJ_GEOM)
    body[ok] = sim.model.geom_bodyid[geom_ids[ok]]
    return body


def shares(sim, camera: str, input_px: int, patch: int) -> dict[str, float]:
    """Pixel and token shares of the hand (hand + fingers) and of the fingers alone."""
    m = sim.model
    ids = {
        n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, n)
        for n in ("robot0_hand", "robot0_left_finger", "robot0_right_finger")
    }
    body = _segment(sim, camera, input_px)
    fingers = np.isin(body, [ids["robot0_left_finger"], ids["robot0_right_finger"]])
    hand = fingers | (body == ids["robot0_hand"])
    g = input_px // patch

    def tok(mask: np.ndarray) -> float:
        cells = mask[: g * patch, : g * patch].reshape(g, patch, g, patch).any(axis=(1, 3))
        return float(cells.mean())

    return {
        "hand_px": float(hand.mean()),
        "hand_tokens": tok(hand),
        "finger_px": float(fingers.mean()),
        "finger_tokens": tok(fingers),
    }


def main(argv: list[str] | None = None) -> int:
    from vjepa2_world_model.sim.config import load_config
    from vjepa2_world_model.sim.direct import DirectSim

    from .scripted_moves import drive_to, hand_around_cube

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=None)
    ap.add_argument("--pos", type=float, nargs=3)
    ap.add_argument("--lookat", type=float, nargs=3)
    ap.add_argument("--fovy", type=float)
    ap.add_argument("--input", type=int, default=128, help="model input size (px)")
    ap.add_argument("--patch", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument(
        "--camera", default=None, help="camera or stacked view (default: what the cell publishes)"
    )
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    sim_cam = args.camera or cfg["render"].get("camera", "ext_cam")
    cam = cfg["cameras"]["ext_cam"]
    for key in ("pos", "lookat", "fovy"):
        if getattr(args, key) is not None:
            cam[key] = getattr(args, key)
    sim = DirectSim(cfg)
    rows: dict[str, list[dict[str, float]]] = {
        "open, 20 cm up": [],
        "open at cube": [],
        "closed on cube": [],
    }
    for seed in range(args.seeds):
        sim.reset(seed=seed)
        cube = sim.object_poses()["cube"][:3]
        drive_to(sim, np.array([cube[0], cube[1], 0.2]))
        rows["open, 20 cm up"].append(shares(sim, sim_cam, args.input, args.patch))
        hand_around_cube(sim, seed)
        rows["open at cube"].append(shares(sim, sim_cam, args.input, args.patch))
        sim.move_ee_delta([0, 0, 0, 0, 0, 0, 1.0])
        rows["closed on cube"].append(shares(sim, sim_cam, args.input, args.patch))
    print(
        f"view {sim_cam}; exterior camera pos {cam['pos']} lookat {cam['lookat']} "
        f"fovy {cam['fovy']}; "
        f"input {args.input} px, patch {args.patch} ({args.input // args.patch}^2 tokens)"
    )
    print(f"{'pose':<16} {'hand px':>8} {'hand tok':>9} {'finger px':>10} {'finger tok':>11}")
    for name, vals in rows.items():
        mean = {k: np.mean([v[k] for v in vals]) for k in vals[0]}
        print(
            f"{name:<16} {mean['hand_px']:8.1%} {mean['hand_tokens']:9.1%} "
            f"{mean['finger_px']:10.1%} {mean['finger_tokens']:11.1%}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
