"""Shared training plumbing: configs, schedule, optimizer groups, exact-resume checkpoints,
deterministic data order, DDP (gloo on CPU / nccl on GPU), loss curves, NaN guard."""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch import nn

# ----------------------------------------------------------------------------- config


def _parse_value(text: str) -> Any:
    """YAML value; numbers like ``1e-3`` (a string in YAML 1.1) become floats."""
    v = yaml.safe_load(text)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


def set_dotted(cfg: dict, key: str, value: Any) -> None:
    """cfg['a']['b'] = value for key 'a.b' (creates nested dicts)."""
    parts = key.split(".")
    node = cfg
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[parts[-1]] = value


def load_config(
    path: str | Path | None, overrides: list[str] | None = None, defaults: dict | None = None
) -> dict:
    """YAML config (on top of ``defaults``) with ``key.sub=value`` overrides (YAML values)."""
    cfg: dict = json.loads(json.dumps(defaults or {}))
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ValueError(f"config file not found: {p}")
        loaded = yaml.safe_load(p.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"config {p} must be a mapping")
        _merge(cfg, loaded)
    for ov in overrides or []:
        if "=" not in ov:
            raise ValueError(f"override must be key=value, got {ov!r}")
        k, v = ov.split("=", 1)
        set_dotted(cfg, k.strip().lstrip("-"), _parse_value(v))
    return cfg


def _merge(dst: dict, src: dict) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = v


# ----------------------------------------------------------------------------- schedule


@dataclass
class WarmupConstantDecay:
    """Linear warmup start_lr -> lr, constant, linear decay to final_lr over the last steps."""

    total_steps: int
    lr: float
    start_lr: float
    final_lr: float
    warmup_steps: int
    decay_steps: int

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.start_lr + (self.lr - self.start_lr) * step / max(1, self.warmup_steps)
        decay_start = self.total_steps - self.decay_steps
        if step < decay_start:
            return self.lr
        frac = min(1.0, (step - decay_start) / max(1, self.decay_steps))
        return self.lr + (self.final_lr - self.lr) * frac


def schedule_from_cfg(opt: dict, total_steps: int) -> WarmupConstantDecay:
    warm = opt.get("warmup_steps", opt.get("warmup_frac", 0.05))
    dec = opt.get("decay_steps", opt.get("decay_frac", 0.1))
    warm = int(warm * total_steps) if isinstance(warm, float) and warm < 1 else int(warm)
    dec = int(dec * total_steps) if isinstance(dec, float) and dec < 1 else int(dec)
    return WarmupConstantDecay(
        total_steps,
        float(opt["lr"]),
        float(opt.get("start_lr", 0.0)),
        float(opt.get("final_lr", 0.0)),
        warm,
        dec,
    )


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: no weight decay on biases and 1-D params (norms, tokens of dim 1)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def make_optimizer(model: nn.Module, opt: dict) -> torch.optim.AdamW:
    betas = tuple(opt.get("betas", (0.9, 0.999)))
    return torch.optim.AdamW(
        param_groups(model, float(opt.get("weight_decay", 0.04))),
        lr=float(opt["lr"]),
        betas=betas,
        eps=float(opt.get("eps", 1e-8)),
    )


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr


# ----------------------------------------------------------------------------- data order


class DeterministicSampler:
    """Global batch ``step`` -> item indices, from per-epoch permutations of ``n`` items.

    The order depends only on (seed, step), so resuming at a step reproduces the data
    exactly; rank r of w takes its slice of the global batch (DDP == single process).
    """

    def __init__(self, n: int, global_batch: int, seed: int) -> None:
        if n <= 0:
            raise ValueError("dataset is empty")
        self.n, self.batch, self.seed = n, global_batch, seed
        self._perms: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            if len(self._perms) > 4:
                self._perms.clear()
            self._perms[epoch] = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        return self._perms[epoch]

    def global_indices(self, step: int) -> np.ndarray:
        pos = step * self.batch + np.arange(self.batch)
        return np.array([self._perm(int(p // self.n))[p % self.n] for p in pos], dtype=np.int64)

    def rank_slice(self, rank: int, world: int) -> slice:
        if self.batch % world:
            raise ValueError(f"batch size {self.batch} not divisible by world size {world}")
        b = self.batch // world
        return slice(rank * b, (rank + 1) * b)

    def epoch_of(self, step: int) -> float:
        return step * self.batch / self.n


# ----------------------------------------------------------------------------- distributed


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def init_distributed() -> Dist:
    """Init the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def all_reduce_mean(x: float, d: Dist) -> float:
    if not d.enabled:
        return x
    t = torch.tensor([x], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / d.world


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()


def cleanup_distributed(d: Dist) -> None:
    """Wait for every rank, then tear the process group down."""
    if d.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


# ----------------------------------------------------------------------------- RNG / ckpt


def rng_state() -> dict:
    return {
        "torch": torch.get_rng_state(),
        "numpy": json.dumps(_np_state()),
        "python": json.dumps(random.getstate()),
    }


def _np_state() -> dict:
    st = np.random.get_state(legacy=False)
    st["state"] = {
        k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in st["state"].items()
    }
    return st


def set_rng_state(st: dict) -> None:
    torch.set_rng_state(st["torch"])
    np_st = json.loads(st["numpy"])
    np_st["state"]["key"] = np.asarray(np_st["state"]["key"], dtype=np.uint32)
    np.random.set_state(np_st)
    py = json.loads(st["python"])
    random.setstate((py[0], tuple(py[1]), py[2]))


def save_checkpoint(path: Path, payload: dict) -> None:
    """Atomic save: write a temp file, keep the previous one as ``*.prev.pt``, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    if path.exists():
        os.replace(path, path.with_suffix(".prev.pt"))
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


class NaNLossError(RuntimeError):
    """Training diverged; the last good checkpoint is kept."""


def check_finite(loss: float, step: int, ckpt: Path) -> None:
    """Raise NaNLossError for a NaN/inf loss (pass the all-reduced value so every rank
    stops together)."""
    if not math.isfinite(loss):
        raise NaNLossError(
            f"loss is {loss} at step {step}: training diverged. Stopping without "
            f"saving; the last good checkpoint is kept at {ckpt}. Lower optimizer.lr or "
            f"check the data, then resume."
        )


# ----------------------------------------------------------------------------- logging


class History:
    """Loss history (JSON lines) + PNG curve."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / "history.jsonl"
        self.rows: list[dict] = []
        if self.path.exists():
            self.rows = [json.loads(x) for x in self.path.read_text().splitlines() if x.strip()]

    def truncate(self, step: int) -> None:
        """Drop rows after ``step`` (when resuming from an earlier checkpoint)."""
        self.rows = [r for r in self.rows if r["step"] <= step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in self.rows))

    def add(self, row: dict) -> None:
        row = {
            k: (float(v) if isinstance(v, (np.floating, torch.Tensor)) else v)
            for k, v in row.items()
        }
        self.rows.append(row)
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")

    def plot(self, out: Path, title: str) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        keys = sorted({k for r in self.rows for k in r if k.endswith("loss")})
        for k in keys:
            pts = [(r["step"], r[k]) for r in self.rows if k in r and r[k] is not None]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, label=k, marker="o" if k.startswith("val") else None, markersize=3)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(title)
        if keys:
            ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out, dpi=100)
        plt.close(fig)


def setup_threads(cfg: dict) -> None:
    n = int(cfg.get("threads", 0) or 0)
    if n > 0:
        torch.set_num_threads(n)


def finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


class Timer:
    def __init__(self) -> None:
        self.t0 = time.time()

    def elapsed(self) -> float:
        return time.time() - self.t0
