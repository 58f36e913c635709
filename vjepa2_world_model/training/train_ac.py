"""`vjepa2 train-ac`: train the action-conditioned predictor on frozen-encoder features.

Features come from the feature cache (``vjepa2 cache-features``; built on the fly when
missing). Loss = teacher forcing + k-step rollout, mean L1 between layer-normed
predictions and layer-normed encoder features. Warmup-constant-decay AdamW, exact resume,
validation on held-out episodes, loss curve PNG, DDP via torchrun.

    vjepa2 train-ac --config configs/train_ac_tiny.yaml train.steps=4000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import common as C

DEFAULTS: dict[str, Any] = {
    "run_dir": "runs/ac_tiny",
    "threads": 2,
    "data": {
        "episodes": "data/sim/episodes",
        "format": "auto",  # auto | bags | droid (raw DROID: trajectory.h5 + MP4, 15 Hz)
        "fps": 4.0,  # DROID resampling rate
        "encoder": "weights/sim_tiny/encoder.safetensors",
        "cache_root": "data/features",
        "cache_dir": None,  # explicit cache dir (overrides encoder hash lookup)
        "clip_len": 8,
        "stride": 1,
        "val_frac": 0.1,
        "split_seed": 0,
        "val_clips": 256,
        "gripper_repeat": 1,  # list clips where the hand opens/closes this many times
    },
    # init_from: start from a trained predictor file (same shapes); zero_proj: zero the
    # output projection (with overrides.residual=true the start is exactly copy-last)
    "model": {
        "config": "ac_tiny",
        "overrides": {},
        "pca_init": False,
        "init_from": None,
        "zero_proj": False,
    },
    "optimizer": {
        "lr": 4.25e-4,
        "start_lr": 7.5e-5,
        "final_lr": 0.0,
        "warmup_steps": 0.05,
        "decay_steps": 0.1,
        "weight_decay": 0.04,
        "betas": [0.9, 0.999],
    },
    "train": {
        "steps": 4000,
        "batch_size": 16,
        "seed": 0,
        "tf_weight": 1.0,
        "rollout_weight": 1.0,
        "rollout_steps": 2,
        "grad_clip": 1.0,
        "change_weight": 0.0,
        "log_every": 10,
        "eval_every": 250,
        "ckpt_every": 100,
        "max_minutes": 0,
        "resume": True,
        "progress": True,
    },
    # None = RUN_DIR/ac_predictor.safetensors (a run never overwrites the shipped weights;
    # ship by copying the file to weights/...); "" = no export
    "export": {"path": None},
}


def export_path(cfg: dict) -> Path | None:
    """Where a finished run writes its predictor: export.path, by default in the run dir."""
    path = (cfg.get("export") or {}).get("path")
    if path is None:
        return Path(cfg["run_dir"]) / "ac_predictor.safetensors"
    return Path(path) if str(path) else None


def layer_norm(x: Tensor) -> Tensor:
    return F.layer_norm(x, (x.shape[-1],))


class ACLoss(nn.Module):
    """Wraps the predictor; forward returns (total, teacher-forcing, rollout) losses."""

    def __init__(
        self,
        predictor: nn.Module,
        rollout_steps: int = 2,
        tf_weight: float = 1.0,
        rollout_weight: float = 1.0,
        change_weight: float = 0.0,
    ) -> None:
        super().__init__()
        if change_weight < 0:
            raise ValueError(f"change_weight must be >= 0, got {change_weight}")
        self.predictor = predictor
        self.rollout_steps = rollout_steps
        self.tf_weight = tf_weight
        self.rollout_weight = rollout_weight
        self.change_weight = change_weight

    def _l1(self, pred: Tensor, target: Tensor, before: Tensor) -> Tensor:
        """Mean L1; with ``change_weight`` > 0, tokens whose target changed from ``before``
        weigh more (1 + cw * change / mean change, renormalised to mean 1 per example).

        Off (0) by default, which is the paper's plain L1. The option exists because
        small moving parts (fingers, a lifted cube) are a small share of the tokens."""
        err = (pred - target).abs().mean(-1)  # (..., N)
        if self.change_weight == 0:
            return err.mean()
        change = (target - before).abs().mean(-1).detach()
        w = 1.0 + self.change_weight * change / change.mean(-1, keepdim=True).clamp_min(1e-6)
        w = w / w.mean(-1, keepdim=True)
        return (w * err).mean()

    def forward(self, z: Tensor, actions: Tensor, states: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        z = layer_norm(z)
        T = z.shape[1]
        pred = self.predictor(z[:, :-1], actions[:, :-1], states[:, :-1])
        tf = self._l1(layer_norm(pred), z[:, 1:], z[:, :-1])
        k_max = min(self.rollout_steps, T - 1)
        roll = z.new_zeros(())
        if k_max > 0 and self.rollout_weight > 0:
            # step 1 from z_0 alone is the teacher-forcing output of frame 0 (block-causal),
            # so reuse it; later steps feed the layer-normed predictions back.
            out = layer_norm(pred[:, 0])
            ctx = torch.cat([z[:, :1], out[:, None]], dim=1)
            for k in range(1, k_max):
                out = layer_norm(
                    self.predictor(ctx, actions[:, : k + 1], states[:, : k + 1])[:, -1]
                )
                ctx = torch.cat([ctx, out[:, None]], dim=1)
            roll = self._l1(out, z[:, k_max], z[:, 0])
        total = self.tf_weight * tf + self.rollout_weight * roll
        return total, tf.detach(), roll.detach()


def build_predictor(model_cfg: dict, enc_dim: int | None = None) -> nn.Module:
    from vjepa2_world_model.models.ac_predictor import AC_CONFIGS, ACPredictor

    name = model_cfg.get("config", "ac_tiny")
    if name not in AC_CONFIGS:
        raise ValueError(f"unknown AC config {name!r}; known: {sorted(AC_CONFIGS)}")
    cfg = AC_CONFIGS[name]
    ov = dict(model_cfg.get("overrides") or {})
    if enc_dim is not None and "enc_dim" not in ov:
        ov["enc_dim"] = enc_dim
    if ov:
        if "grid_size" in ov:
            ov["grid_size"] = tuple(ov["grid_size"])
        cfg = dataclasses.replace(cfg, **ov)
    pred = ACPredictor(cfg)
    unused = getattr(pred, "extrinsics_encoder", None)  # kept only for checkpoint loading
    if unused is not None:
        unused.requires_grad_(False)  # no optimizer/DDP bookkeeping for it
    return pred


@torch.no_grad()
def init_from_(predictor: nn.Module, path: str | Path) -> None:
    """Copy the weights of a saved predictor (own format) into ``predictor``; shapes must
    match (the config may differ in flags such as ``residual``). Names any mismatch."""
    from vjepa2_world_model.checkpoints import load_model, strict_load

    strict_load(predictor, load_model(path).state_dict(), f"init_from {path}", assign=False)


@torch.no_grad()
def pca_init_(predictor: nn.Module, feats: Tensor) -> float:
    """Data-dependent init of the input/output projections so a fresh predictor starts
    near copy-last-frame: ``predictor_embed`` = the top-``dim`` principal directions of the
    layer-normed features, ``predictor_proj`` = their transpose (rescaled for the final
    LayerNorm). feats (M, E) sample of encoder features; returns the explained variance."""
    z = layer_norm(feats.float())
    mu = z.mean(0)
    zc = z - mu
    _, S, Vt = torch.linalg.svd(zc, full_matrices=False)
    D = predictor.predictor_embed.weight.shape[0]
    V = Vt[:D]  # (D, E)
    x = zc @ V.T  # coefficients (M, D)
    m, sd = x.mean(1).mean(), x.std(1, unbiased=False).mean()
    predictor.predictor_embed.weight.copy_(V)
    predictor.predictor_embed.bias.copy_(-(V @ mu))
    predictor.predictor_proj.weight.copy_(V.T * sd)
    predictor.predictor_proj.bias.copy_(mu + V.T @ torch.full((D,), float(m)))
    return float((S[:D] ** 2).sum() / (S**2).sum())


def _resolve_cache(cfg: dict, log: Any) -> Path:
    from vjepa2_world_model.data.feature_cache import build_cache, cache_dir_for

    d = cfg["data"]
    if d.get("cache_dir"):
        return Path(d["cache_dir"])
    enc_path = Path(d["encoder"])
    if not enc_path.exists():
        raise ValueError(f"encoder checkpoint not found: {enc_path}")
    out = cache_dir_for(d["cache_root"], enc_path)
    from vjepa2_world_model.checkpoints import load_model

    from ..data.feature_cache import episode_source

    eps, reader = episode_source(
        d["episodes"], d.get("format") or "auto", float(d.get("fps") or 4.0)
    )
    if not eps:
        raise ValueError(f"no episodes under {d['episodes']}")
    missing = [e for e in eps if not (out / f"{e.name}.npz").exists()]
    if missing:
        log(f"building feature cache for {len(missing)} episodes in {out}")
        build_cache(eps, load_model(enc_path), out, log=log, reader=reader)
    return out


def evaluate(loss_mod: ACLoss, data: Any, n_clips: int, batch: int) -> dict[str, float]:
    """Mean losses over the first ``n_clips`` (fixed, evenly spaced) validation clips."""
    idx = np.linspace(0, len(data) - 1, min(n_clips, len(data))).round().astype(np.int64)
    tot = {"val_loss": 0.0, "val_tf_loss": 0.0, "val_rollout_loss": 0.0}
    loss_mod.eval()
    with torch.no_grad():
        for i in range(0, len(idx), batch):
            b = idx[i : i + batch]
            total, tf, roll = loss_mod(*data.get(b))
            for k, v in zip(tot, (total, tf, roll), strict=True):
                tot[k] += float(v) * len(b)
    loss_mod.train()
    return {k: v / len(idx) for k, v in tot.items()}


def export(predictor: nn.Module, path: str | Path, extra: dict | None = None) -> None:
    from vjepa2_world_model.checkpoints import save_model

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_model(predictor, path, **({"metadata": extra} if extra else {}))


def train(cfg: dict, data_override: tuple | None = None) -> dict:
    """Run (or resume) training; returns a summary dict. ``data_override`` = (train, val)
    FeatureClips-like objects (tests)."""
    C.setup_threads(cfg)
    dd = C.init_distributed()
    tcfg, ocfg = cfg["train"], cfg["optimizer"]
    run_dir = Path(cfg["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    log_f = open(run_dir / "log.txt", "a") if dd.main else None  # noqa: SIM115

    def log(msg: str) -> None:
        if dd.main:
            line = f"[{time.strftime('%H:%M:%S')}] {msg}"
            print(line, flush=True)
            log_f.write(line + "\n")
            log_f.flush()

    if data_override is not None:
        train_data, val_data = data_override
    else:
        from vjepa2_world_model.data.clips import FeatureClips, split_names
        from vjepa2_world_model.data.feature_cache import load_cache

        if dd.main:
            cache = _resolve_cache(cfg, log)
        C.barrier(dd)
        cache = _resolve_cache(cfg, log) if not dd.main else cache
        eps = load_cache(cache)
        tr, va = split_names(list(eps), cfg["data"]["val_frac"], cfg["data"]["split_seed"])
        d = cfg["data"]
        train_data = FeatureClips(
            {n: eps[n] for n in tr}, d["clip_len"], d["stride"], int(d.get("gripper_repeat") or 1)
        )
        val_data = FeatureClips({n: eps[n] for n in va}, d["clip_len"], 1) if va else None
        log(
            f"data: {len(tr)} train episodes ({len(train_data)} clips), {len(va)} val "
            f"episodes ({0 if val_data is None else len(val_data)} clips) from {cache}"
        )
    torch.manual_seed(int(tcfg["seed"]))
    enc_dim = int(train_data.get(np.array([0]))[0].shape[-1])
    predictor = build_predictor(cfg["model"], enc_dim)
    loss_mod = ACLoss(
        predictor,
        int(tcfg["rollout_steps"]),
        float(tcfg["tf_weight"]),
        float(tcfg["rollout_weight"]),
        float(tcfg.get("change_weight", 0.0)),
    )
    opt = C.make_optimizer(loss_mod, ocfg)
    total_steps = int(tcfg["steps"])
    sched = C.schedule_from_cfg(ocfg, total_steps)
    sampler = C.DeterministicSampler(len(train_data), int(tcfg["batch_size"]), int(tcfg["seed"]))
    my = sampler.rank_slice(dd.rank, dd.world)
    ckpt = run_dir / "ckpt_last.pt"
    hist = C.History(run_dir) if dd.main else None
    step = 0
    if tcfg.get("resume", True) and ckpt.exists():
        st = C.load_checkpoint(ckpt)
        predictor.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        C.set_rng_state(st["rng"])
        step = int(st["step"])
        if hist is not None:
            hist.truncate(step)
        log(f"resumed from {ckpt} at step {step}")
    if step == 0 and cfg["model"].get("init_from"):
        init_from_(predictor, cfg["model"]["init_from"])
        log(f"init_from: weights of {cfg['model']['init_from']}")
    if step == 0 and cfg["model"].get("zero_proj"):
        with torch.no_grad():
            predictor.predictor_proj.weight.zero_()
            predictor.predictor_proj.bias.zero_()
        log("zero_proj: output projection zeroed")
    if step == 0 and cfg["model"].get("pca_init"):
        g = np.random.default_rng(int(tcfg["seed"]))
        idx = g.choice(len(train_data), min(256, len(train_data)), replace=False)
        sample = train_data.get(idx)[0][:, 0].reshape(-1, enc_dim)
        ev = pca_init_(predictor, sample)  # same on every rank (same data, same maths)
        log(f"pca_init: embed/proj from {len(sample)} tokens, explained variance {ev:.3f}")
    model: nn.Module = loss_mod
    if dd.enabled:
        model = nn.parallel.DistributedDataParallel(loss_mod)
    n_params = sum(p.numel() for p in predictor.parameters())
    log(
        f"AC predictor {cfg['model']['config']}: {n_params / 1e6:.2f}M params, steps "
        f"{step}->{total_steps}, global batch {sampler.batch}, world {dd.world}"
    )

    def save(step_: int) -> None:
        if dd.main:
            C.save_checkpoint(
                ckpt,
                {
                    "model": predictor.state_dict(),
                    "optimizer": opt.state_dict(),
                    "step": step_,
                    "rng": C.rng_state(),
                    "config": json.dumps(cfg),
                },
            )

    losses: list[float] = []
    t_start = time.time()
    max_s = float(tcfg.get("max_minutes") or 0) * 60
    pbar = None
    if dd.main and tcfg.get("progress", True):
        from tqdm import tqdm

        pbar = tqdm(
            total=total_steps,
            initial=step,
            desc="train-ac",
            mininterval=10,
            file=sys.stderr,
            dynamic_ncols=False,
            ncols=100,
        )
    summary: dict = {"stopped": "done"}
    last = {}
    try:
        while step < total_steps:
            lr = sched(step)
            C.set_lr(opt, lr)
            idx = sampler.global_indices(step)[my]
            z, a, s = train_data.get(idx)
            loss, tf, roll = model(z, a, s)
            lv = C.all_reduce_mean(float(loss.detach()), dd)
            C.check_finite(lv, step, ckpt)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if tcfg.get("grad_clip"):
                nn.utils.clip_grad_norm_(loss_mod.parameters(), float(tcfg["grad_clip"]))
            opt.step()
            step += 1
            losses.append(lv)
            last = {
                "step": step,
                "loss": lv,
                "tf_loss": C.all_reduce_mean(float(tf), dd),
                "rollout_loss": C.all_reduce_mean(float(roll), dd),
                "lr": lr,
            }
            if pbar is not None:
                pbar.update(1)
                pbar.set_postfix(loss=f"{lv:.4f}", refresh=False)
            if dd.main and (step % int(tcfg["log_every"]) == 0 or step == total_steps):
                hist.add(dict(last, time_s=round(time.time() - t_start, 1)))
            if (
                dd.main
                and val_data is not None
                and (step % int(tcfg["eval_every"]) == 0 or step == total_steps)
            ):
                v = evaluate(
                    loss_mod, val_data, int(cfg["data"]["val_clips"]), max(16, sampler.batch)
                )
                hist.add({"step": step, **v})
                log(
                    f"step {step}: loss {lv:.4f} (tf {last['tf_loss']:.4f} roll "
                    f"{last['rollout_loss']:.4f}) val {v['val_loss']:.4f} (tf "
                    f"{v['val_tf_loss']:.4f} roll {v['val_rollout_loss']:.4f}) lr {lr:.2e}"
                )
                hist.plot(run_dir / "loss.png", "AC predictor")
            if step % int(tcfg["ckpt_every"]) == 0 or step == total_steps:
                save(step)
            if max_s and time.time() - t_start > max_s and step < total_steps:
                save(step)
                summary["stopped"] = "time limit"
                log(f"time limit reached at step {step}; resume with the same command")
                break
    except C.NaNLossError as e:
        log(f"ERROR: {e}")
        summary["stopped"] = "nan"
        summary["error"] = str(e)
        if pbar is not None:
            pbar.close()
        C.cleanup_distributed(dd)
        if log_f:
            log_f.close()
        raise
    if pbar is not None:
        pbar.close()
    if dd.main and hist is not None and hist.rows:
        hist.plot(run_dir / "loss.png", "AC predictor")
    if dd.main and step >= total_steps and export_path(cfg):
        export(predictor, export_path(cfg))
        log(f"exported {export_path(cfg)}")
    summary.update(
        {
            "step": step,
            "losses": losses,
            "last": last,
            "wall_s": time.time() - t_start,
            "model": predictor,
        }
    )
    C.cleanup_distributed(dd)
    if log_f:
        log_f.close()
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vjepa2 train-ac", description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=None, help="YAML config (configs/train_ac_tiny.yaml)")
    ap.add_argument("overrides", nargs="*", help="key.sub=value overrides")
    ap.add_argument(
        "--export-only",
        metavar="OUT",
        default=None,
        help="write the run's last checkpoint as a model file and exit",
    )
    args = ap.parse_args(argv)
    cfg = C.load_config(args.config, args.overrides, DEFAULTS)
    if args.export_only:
        ckpt = Path(cfg["run_dir"]) / "ckpt_last.pt"
        if not ckpt.exists():
            raise ValueError(f"no checkpoint at {ckpt}")
        st = C.load_checkpoint(ckpt)
        pred = build_predictor(cfg["model"], int(st["model"]["predictor_embed.weight"].shape[1]))
        pred.load_state_dict(st["model"])
        export(pred, args.export_only, {"step": int(st["step"])})
        print(f"exported step {int(st['step'])} of {ckpt} to {args.export_only}")
        return 0
    try:
        summary = train(cfg)
    except C.NaNLossError as e:
        print(f"train-ac: {e}", file=sys.stderr)
        return 3
    print(f"train-ac: stopped ({summary['stopped']}) at step {summary['step']}")
    _print_outputs(cfg, summary)
    return 0


def _print_outputs(cfg: dict, summary: dict) -> None:
    from vjepa2_world_model.progress import outputs

    run = Path(cfg["run_dir"])
    done = summary["stopped"] == "done" and export_path(cfg)
    outputs(
        "train-ac",
        run_dir=run,
        checkpoint=run / "ckpt_last.pt",
        log=run / "log.txt",
        loss_plot=run / "loss.png",
        **({"weights": export_path(cfg)} if done else {}),
    )


if __name__ == "__main__":
    raise SystemExit(main())
