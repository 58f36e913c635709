"""`vjepa2 train-readout`: train the state readout head (features -> 7-D state).

Trains ``models.readout.StateReadout`` on the frozen-encoder feature cache (``vjepa2
cache-features``: per episode ``features`` (T, N, D) and ``states`` (T, 7)). Episodes are
split into train / validation by a seeded permutation; the loss is the mean L1 between
normalized predicted and true states (angles wrapped). Writes the head as safetensors
(kind ``readout``, the validation errors in its metadata) and prints the errors.

    vjepa2 train-readout --cache-dir data/features/<hash> --out weights/sim_tiny/readout.safetensors
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vjepa2_world_model.models.readout import ANGLES, ReadoutConfig, StateReadout, state_difference


def load_split(
    cache_dir: Path, val_frac: float, seed: int
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor], list[str]]:
    """((train features, states), (val features, states), val episode names)."""
    from vjepa2_world_model.data.feature_cache import load_cache

    cache = load_cache(cache_dir)
    names = sorted(cache)
    perm = np.random.default_rng(seed).permutation(len(names))
    n_val = max(1, round(val_frac * len(names))) if len(names) > 1 else 0
    val_names = sorted(names[i] for i in perm[:n_val])

    def stack(sel: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if not sel:
            return torch.zeros(0), torch.zeros(0, 7)
        f = np.concatenate([cache[n][0] for n in sel])
        s = np.concatenate([cache[n][1] for n in sel]).astype(np.float32)
        return torch.from_numpy(f), torch.from_numpy(s)

    train = stack([n for n in names if n not in val_names])
    return train, stack(val_names), val_names


def errors(
    model: StateReadout, feats: torch.Tensor, states: torch.Tensor, batch: int = 256
) -> dict[str, float]:
    """Mean absolute errors: xyz (cm, and the 3-D distance), angles (deg), gripper."""
    if len(feats) == 0:
        return {}
    with torch.no_grad():
        pred = torch.cat([model(feats[i : i + batch].float()) for i in range(0, len(feats), batch)])
    d = state_difference(pred, states).abs()
    return {
        "xyz_cm": float(d[:, :3].mean() * 100),
        "xyz_dist_cm": float(
            torch.linalg.vector_norm(pred[:, :3] - states[:, :3], dim=-1).mean() * 100
        ),
        "angle_deg": float(torch.rad2deg(d[:, ANGLES]).mean()),
        "gripper": float(d[:, 6].mean()),
    }


def train(
    train_set: tuple[torch.Tensor, torch.Tensor],
    cfg: ReadoutConfig,
    steps: int,
    batch: int,
    lr: float,
    seed: int,
    log_every: int = 100,
) -> StateReadout:
    """Fit a readout head on (features (M, N, E), states (M, 7))."""
    feats, states = train_set
    if len(feats) == 0:
        raise ValueError("no training frames")
    torch.manual_seed(seed)
    model = StateReadout(cfg)
    model.set_normalization(states.mean(0), states.std(0))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    t0 = time.time()
    for step in range(1, steps + 1):
        idx = torch.randint(len(feats), (min(batch, len(feats)),), generator=gen)
        target = states[idx]
        pred = model(feats[idx].float())
        loss = (state_difference(pred, target) / model.state_std).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if log_every and (step % log_every == 0 or step == steps):
            print(
                f"[readout] step {step}/{steps} loss {loss.item():.4f} ({time.time() - t0:.0f} s)",
                flush=True,
            )
    return model.eval()


def main(argv: list[str] | None = None) -> int:
    """``vjepa2 train-readout (--cache-dir DIR | --encoder FILE [--cache-root DIR])``."""
    ap = argparse.ArgumentParser(prog="vjepa2 train-readout", description=__doc__.split("\n")[0])
    ap.add_argument("--cache-dir", default=None, help="feature cache dir of one encoder")
    ap.add_argument(
        "--encoder",
        default="weights/sim_tiny/encoder.safetensors",
        help="find the cache dir of this encoder under --cache-root",
    )
    ap.add_argument("--cache-root", default="data/features")
    ap.add_argument("--out", default="weights/sim_tiny/readout.safetensors")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--val-frac", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ns = ap.parse_args(argv)
    torch.set_num_threads(ns.threads)
    if ns.cache_dir:
        cache_dir = Path(ns.cache_dir)
    else:
        from vjepa2_world_model.data.feature_cache import cache_dir_for

        cache_dir = cache_dir_for(ns.cache_root, ns.encoder)
    (tr, va, val_names) = load_split(cache_dir, ns.val_frac, ns.seed)
    if tr[0].dim() != 3:
        raise ValueError(f"features must be (T, N, E), got {tuple(tr[0].shape)}")
    cfg = ReadoutConfig(
        embed_dim=int(tr[0].shape[2]),
        num_tokens=int(tr[0].shape[1]),
        heads=ns.heads,
        hidden=ns.hidden,
    )
    print(
        f"[readout] {len(tr[0])} train / {len(va[0])} val frames from {cache_dir} "
        f"({len(val_names)} val episodes)",
        flush=True,
    )
    t0 = time.time()
    model = train(tr, cfg, ns.steps, ns.batch, ns.lr, ns.seed)
    figures: dict[str, Any] = {
        "val": errors(model, *va),
        "train": errors(model, *tr),
        "train_frames": len(tr[0]),
        "val_frames": len(va[0]),
        "val_episodes": val_names,
        "steps": ns.steps,
        "minutes": (time.time() - t0) / 60,
        "cache_dir": str(cache_dir),
    }
    from vjepa2_world_model.checkpoints import save_model

    out = Path(ns.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, out, {"readout_figures": figures})
    print(json.dumps({k: v for k, v in figures.items() if k != "val_episodes"}, indent=1))
    print(f"[readout] wrote {out}")
    return 0
