"""Reachable, well-conditioned TCP region of the FR3 with the hand pointing down.

``python -m bench.probe_workspace [--step 0.05]``: for a grid of TCP positions (home
orientation, hand down), solve damped least-squares IK from the home posture inside the
joint limits (MuJoCo model of the sim cell, no physics) and report, per point, whether
it converged (< 1 mm, < 0.01 rad) and the smallest singular value of the position
Jacobian.  Prints the points that fail per x/z row and the largest box (on the grid)
whose points all pass; that box is the bridge's default workspace (franka_bridge PARAMS).
"""

from __future__ import annotations

import argparse
import itertools

import mujoco
import numpy as np

from vjepa2_world_model.robot.fr3_kinematics import flange_pose
from vjepa2_world_model.sim import load_config
from vjepa2_world_model.sim.scene import ARM_JOINTS, TCP_SITE, build_scene_xml

MIN_SIGMA = 0.1  # m/rad: below this the arm is near a singularity (slow, ill-conditioned)


def solve(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    site: int,
    adr: np.ndarray,
    dadr: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    q0: np.ndarray,
    pos: np.ndarray,
    rot: np.ndarray,
) -> tuple[bool, float]:
    q = q0.copy()
    jp, jr = np.zeros((3, model.nv)), np.zeros((3, model.nv))
    ok = False
    for _ in range(300):
        data.qpos[adr] = q
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        ep = pos - data.site_xpos[site]
        r = rot @ data.site_xmat[site].reshape(3, 3).T
        er = 0.5 * np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
        if np.linalg.norm(ep) < 1e-3 and np.linalg.norm(er) < 1e-2:
            ok = True
            break
        mujoco.mj_jacSite(model, data, jp, jr, site)
        j = np.vstack([jp[:, dadr], jr[:, dadr]])
        dq = j.T @ np.linalg.solve(j @ j.T + 1e-3 * np.eye(6), np.r_[ep, er])
        dq += (np.eye(7) - np.linalg.pinv(j) @ j) @ (0.05 * (q0 - q))
        q = np.clip(q + np.clip(dq, -0.2, 0.2), lo, hi)
    mujoco.mj_jacSite(model, data, jp, jr, site)
    sigma = float(np.linalg.svd(np.vstack([jp[:, dadr], jr[:, dadr]]), compute_uv=False)[-1])
    return ok and sigma > MIN_SIGMA, sigma


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--step", type=float, default=0.05)
    args = ap.parse_args(argv)
    cfg = load_config()
    model = mujoco.MjModel.from_xml_string(build_scene_xml(cfg))
    data = mujoco.MjData(model)
    site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, TCP_SITE)
    jid = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in ARM_JOINTS]
    adr, dadr = model.jnt_qposadr[jid], model.jnt_dofadr[jid]
    lo, hi = model.jnt_range[jid, 0] + 0.05, model.jnt_range[jid, 1] - 0.05
    q0 = np.asarray(cfg["robot"]["home_q"], float)
    data.qpos[adr] = q0
    mujoco.mj_kinematics(model, data)
    rot = data.site_xmat[site].reshape(3, 3).copy()
    assert np.allclose(
        flange_pose(q0)[:3, 3], data.xpos[model.body_parentid[model.site_bodyid[site]]], atol=0.2
    )  # same arm model as the bridge's FK
    xs = np.round(np.arange(0.15, 0.90 + 1e-9, args.step), 3)
    ys = np.round(np.arange(-0.55, 0.55 + 1e-9, args.step), 3)
    zs = np.round(np.arange(0.0, 0.80 + 1e-9, args.step), 3)
    ok = np.zeros((len(xs), len(ys), len(zs)), bool)
    sig = np.zeros_like(ok, float)
    for (i, x), (j, y), (k, z) in itertools.product(enumerate(xs), enumerate(ys), enumerate(zs)):
        ok[i, j, k], sig[i, j, k] = solve(
            model, data, site, adr, dadr, lo, hi, q0, np.array([x, y, z]), rot
        )
    print(f"grid {len(xs)}x{len(ys)}x{len(zs)}, reachable+conditioned {ok.mean():.0%}")
    for k, z in enumerate(zs):
        row = "".join(
            "#" if ok[i, :, k].all() else ("+" if ok[i, :, k].any() else ".")
            for i in range(len(xs))
        )
        print(f"z={z:4.2f}  x {xs[0]:.2f}..{xs[-1]:.2f}: {row}")
    best, best_vol = None, 0.0
    for i0, i1 in itertools.combinations(range(len(xs)), 2):
        for j0 in range(len(ys) // 2 + 1):
            j1 = len(ys) - 1 - j0  # symmetric in y
            if j1 <= j0:
                continue
            for k0, k1 in itertools.combinations(range(len(zs)), 2):
                vol = (xs[i1] - xs[i0]) * (ys[j1] - ys[j0]) * (zs[k1] - zs[k0])
                if vol > best_vol and ok[i0 : i1 + 1, j0 : j1 + 1, k0 : k1 + 1].all():
                    best, best_vol = (xs[i0], ys[j0], zs[k0], xs[i1], ys[j1], zs[k1]), vol
    print(f"largest all-pass box: min {best[:3]} max {best[3:]} ({best_vol:.3f} m^3)")
    for name, box in (("old default", (0.2, -0.45, 0.015, 0.8, 0.45, 0.7)),):
        inside = (
            ((xs >= box[0]) & (xs <= box[3]))[:, None, None]
            & ((ys >= box[1]) & (ys <= box[4]))[None, :, None]
            & ((zs >= box[2]) & (zs <= box[5]))[None, None, :]
        )
        print(f"{name} {box}: {ok[inside].mean():.0%} of its grid points pass")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
