"""`vjepa2 bench dynamics`: evidence that the AC predictor learned the cell's dynamics.

On held-out episodes (the same episode split as `vjepa2 train-ac`), from a single-frame
context as the planner uses it:
- 1-step and 2-step prediction error (mean L1 between layer-normed prediction and the
  layer-normed encoder features of the true future frame) vs the copy-last-frame
  baseline (error of using the current frame as the prediction);
- energy ranking: with the true next frame as the goal, the share of (step, random
  action) pairs where the true action has lower energy than a random action (random xyz
  per-axis uniform in +-max_xyz as the planner samples; rotation and gripper kept as in
  the true action), and the share of steps where the true action beats all of them;
- the gripper: on steps that only open/close the hand (|dgripper| > 0.5, hand still), the
  prediction error next to copy-last, and how often the true gripper action gives a lower
  energy than the same step with the gripper action zeroed (50% = the model ignores it).

    vjepa2 bench dynamics --predictor weights/sim_tiny/ac_predictor.safetensors \
        --encoder weights/sim_tiny/encoder.safetensors --episodes data/sim/episodes
    vjepa2 bench dynamics --episodes data/sim/heldout --cache-root data/features_heldout --all
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def _ln(x: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],))


_ROWS: tuple[int, int] | None = None  # --token-rows: score only these token-grid rows


def _l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean L1 over (N, E) -> one value per leading index (over ``_ROWS`` of the square
    token grid only, when set: e.g. the exterior view or the wrist strip of a stacked
    frame)."""
    d = (a - b).abs()
    if _ROWS is not None:
        side = round(d.shape[-2] ** 0.5)
        d = d.reshape(*d.shape[:-2], side, side, d.shape[-1])[..., _ROWS[0] : _ROWS[1], :, :]
        return d.mean(dim=(-3, -2, -1))
    return d.mean(dim=(-2, -1))


@torch.no_grad()
def evaluate_episode(
    pred: torch.nn.Module,
    feats: np.ndarray,
    states: np.ndarray,
    n_random: int,
    max_xyz: float,
    rng: np.random.Generator,
    chunk: int = 256,
) -> dict[str, np.ndarray]:
    """Per-step metrics for one episode (arrays over steps t)."""
    from vjepa2_world_model.data.actions import actions_from_states

    z = _ln(torch.from_numpy(np.asarray(feats, dtype=np.float32)))  # (T,N,E)
    s = torch.from_numpy(np.asarray(states, dtype=np.float32))
    a = torch.from_numpy(actions_from_states(states).astype(np.float32))  # (T-1,7)
    T = len(z)
    if T < 3:
        return {}
    t1 = torch.arange(T - 1)
    # 1 step from a single-frame context
    p1 = _ln(pred(z[t1, None], a[t1, None], s[t1, None])[:, -1])
    err1 = _l1(p1, z[t1 + 1]).numpy()
    base1 = _l1(z[t1], z[t1 + 1]).numpy()
    # 2 steps: feed the layer-normed prediction back with the true next state
    t2 = torch.arange(T - 2)
    ctx = torch.stack([z[t2], p1[t2]], dim=1)
    acts = torch.stack([a[t2], a[t2 + 1]], dim=1)
    sts = torch.stack([s[t2], s[t2 + 1]], dim=1)
    p2 = _ln(pred(ctx, acts, sts)[:, -1])
    err2 = _l1(p2, z[t2 + 2]).numpy()
    base2 = _l1(z[t2], z[t2 + 2]).numpy()
    # energy ranking of the true action against random ones
    e_true = err1
    wins, best = [], []
    for t in range(T - 1):
        ra = a[t].repeat(n_random, 1)
        ra[:, :3] = torch.from_numpy(
            rng.uniform(-max_xyz, max_xyz, (n_random, 3)).astype(np.float32)
        )
        e_r = []
        for i in range(0, n_random, chunk):
            n = len(ra[i : i + chunk])
            pr = _ln(
                pred(
                    z[t].expand(n, -1, -1)[:, None],
                    ra[i : i + chunk, None],
                    s[t].expand(n, -1)[:, None],
                )[:, -1]
            )
            e_r.append(_l1(pr, z[t + 1][None]))
        e_r = torch.cat(e_r).numpy()
        wins.append(float((e_true[t] < e_r).mean()))
        best.append(float(e_true[t] < e_r.min()))
    # the gripper action's own effect: the same step with dgripper zeroed
    a0 = a.clone()
    a0[:, 6] = 0.0
    p0 = _ln(pred(z[t1, None], a0[:, None], s[t1, None])[:, -1])
    err_nogrip = _l1(p0, z[t1 + 1]).numpy()
    return {
        "err1": err1,
        "base1": base1,
        "err2": err2,
        "base2": base2,
        "win_frac": np.array(wins),
        "beats_all": np.array(best),
        "moving": (a[:, :3].norm(dim=-1) > 0.01).numpy(),
        "gripper_only": ((a[:, 6].abs() > 0.5) & (a[:, :3].norm(dim=-1) < 0.005)).numpy(),
        "err_nogrip": err_nogrip,
    }


def _mean(x: np.ndarray, mask: np.ndarray) -> float | None:
    return float(x[mask].mean()) if mask.any() else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vjepa2 bench dynamics", description=__doc__.splitlines()[0])
    ap.add_argument("--predictor", default="weights/sim_tiny/ac_predictor.safetensors")
    ap.add_argument("--encoder", default="weights/sim_tiny/encoder.safetensors")
    ap.add_argument("--episodes", default="data/sim/episodes")
    ap.add_argument("--cache-root", default="data/features")
    ap.add_argument("--cache-dir", default=None, help="explicit feature cache dir")
    ap.add_argument("--val-frac", type=float, default=0.1, help="as in train-ac data.val_frac")
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument(
        "--all",
        action="store_true",
        help="evaluate every episode (a separately collected held-out set; give "
        "it its own --cache-root so training never sees it)",
    )
    ap.add_argument("--max-episodes", type=int, default=0, help="0 = all held-out episodes")
    ap.add_argument("--random-actions", type=int, default=64)
    ap.add_argument("--max-xyz", type=float, default=0.075)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the figures to this JSON file")
    ap.add_argument(
        "--token-rows",
        default=None,
        metavar="A:B",
        help="score only token-grid rows A..B-1 (stacked views: e.g. 0:6 = the "
        "exterior camera, 6:8 = the wrist strip of config/sim_cell_wrist.yaml)",
    )
    args = ap.parse_args(argv)
    global _ROWS
    _ROWS = tuple(int(x) for x in args.token_rows.split(":")) if args.token_rows else None
    torch.set_num_threads(args.threads)
    from vjepa2_world_model.checkpoints import load_model
    from vjepa2_world_model.data.clips import split_names
    from vjepa2_world_model.data.feature_cache import build_cache, cache_dir_for, load_cache

    if args.cache_dir:
        cache = Path(args.cache_dir)
    else:
        from vjepa2_world_model.data.bags import list_episodes

        cache = cache_dir_for(args.cache_root, args.encoder)
        eps = list_episodes(args.episodes)
        if any(not (cache / f"{e.name}.npz").exists() for e in eps):
            build_cache(eps, load_model(args.encoder), cache)
    names = sorted(p.name[:-4] for p in cache.glob("*.npz") if ".tmp" not in p.name)
    val = names if args.all else split_names(names, args.val_frac, args.split_seed)[1]
    if not val:
        raise ValueError("no held-out episodes (val_frac too small?)")
    if args.max_episodes:
        val = val[: args.max_episodes]
    data = load_cache(cache, val)
    pred = load_model(args.predictor).eval()
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    per = [evaluate_episode(pred, *data[n], args.random_actions, args.max_xyz, rng) for n in val]
    per = [p for p in per if p]
    cat = {k: np.concatenate([p[k] for p in per]) for k in per[0]}
    mv = cat["moving"]
    res = {
        "episodes": len(per),
        "steps": len(cat["err1"]),
        "err1": float(cat["err1"].mean()),
        "copy_last_1": float(cat["base1"].mean()),
        "err2": float(cat["err2"].mean()),
        "copy_last_2": float(cat["base2"].mean()),
        "err1_moving": _mean(cat["err1"], mv),
        "copy_last_1_moving": _mean(cat["base1"], mv),
        "gripper_only_steps": int(cat["gripper_only"].sum()),
        "err1_gripper_only": _mean(cat["err1"], cat["gripper_only"]),
        "copy_last_1_gripper_only": _mean(cat["base1"], cat["gripper_only"]),
        "true_gripper_beats_zeroed_share": _mean(
            (cat["err1"] < cat["err_nogrip"]).astype(float), cat["gripper_only"]
        ),
        "true_vs_random_win_rate": float(cat["win_frac"].mean()),
        "true_beats_all_random_share": float(cat["beats_all"].mean()),
        "true_beats_majority_share": float((cat["win_frac"] > 0.5).mean()),
        "random_actions": args.random_actions,
        "max_xyz": args.max_xyz,
        "token_rows": args.token_rows,
        "wall_s": round(time.time() - t0, 1),
    }
    print(f"held-out episodes: {res['episodes']}, steps: {res['steps']}")
    print(
        f"1-step L1: model {res['err1']:.4f} vs copy-last {res['copy_last_1']:.4f} "
        f"(ratio {res['err1'] / res['copy_last_1']:.2f})"
    )
    print(
        f"2-step L1: model {res['err2']:.4f} vs copy-last {res['copy_last_2']:.4f} "
        f"(ratio {res['err2'] / res['copy_last_2']:.2f})"
    )
    if res["err1_moving"] is not None:
        print(
            f"1-step L1 on moving steps (|dxyz| > 1 cm): model {res['err1_moving']:.4f} "
            f"vs copy-last {res['copy_last_1_moving']:.4f}"
        )
    print(
        f"true action energy < random action energy: {100 * res['true_vs_random_win_rate']:.1f}%"
        f" of pairs; beats the majority on {100 * res['true_beats_majority_share']:.1f}% of "
        f"steps, all {args.random_actions} on {100 * res['true_beats_all_random_share']:.1f}%"
    )
    if res["gripper_only_steps"]:
        print(
            f"gripper-only steps ({res['gripper_only_steps']}): 1-step L1 model "
            f"{res['err1_gripper_only']:.4f} vs copy-last {res['copy_last_1_gripper_only']:.4f}; "
            f"true gripper action beats zeroed on "
            f"{100 * res['true_gripper_beats_zeroed_share']:.0f}% (50% = ignored)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
