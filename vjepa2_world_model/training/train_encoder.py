"""`vjepa2 train-encoder`: V-JEPA self-supervised pretraining (mask-denoising in
representation space) of a ViT encoder on collected episodes.

Per sample: the clip (a frame repeated to one tubelet, as the encoder is used downstream,
or ``frames_per_clip`` consecutive frames) is encoded in full by the EMA target encoder
(layer-normed, no affine); each multi-block mask generator gives (context, target) token
sets; the encoder sees only the context tokens, the predictor fills in the targets; loss
= mean L1 over targets, averaged over generators. AdamW without decay on biases / 1-D
params, warmup-constant-decay, exact resume, held-out validation, loss PNG, DDP.

    vjepa2 train-encoder --config configs/train_encoder_tiny.yaml train.steps=2000
"""

from __future__ import annotations

import argparse
import copy
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
    "run_dir": "runs/encoder_tiny",
    "threads": 2,
    "data": {
        "episodes": "data/sim/episodes",
        "frame_cache": "data/frames",  # preprocessed frames per episode (float16 .npy)
        "frames_per_clip": 1,  # 1 = single image repeated to a tubelet (downstream use)
        "frame_stride": 1,
        "val_frac": 0.1,
        "split_seed": 0,
        "val_batches": 4,
    },
    "model": {
        "encoder": "vit_tiny",
        "encoder_overrides": {},
        "predictor": {"dim": 96, "depth": 4, "heads": 3},
    },
    "masks": {
        "generators": [{"num_blocks": 8, "scale": 0.15}, {"num_blocks": 2, "scale": 0.7}],
        "aspect_ratio": [0.75, 1.5],
    },
    "optimizer": {
        "lr": 5e-4,
        "start_lr": 1e-4,
        "final_lr": 1e-5,
        "warmup_steps": 0.1,
        "decay_steps": 0.15,
        "weight_decay": 0.04,
        "betas": [0.9, 0.999],
    },
    "ema": 0.998,
    "train": {
        "steps": 2000,
        "batch_size": 32,
        "seed": 0,
        "grad_clip": 1.0,
        "log_every": 10,
        "eval_every": 200,
        "ckpt_every": 100,
        "max_minutes": 0,
        "resume": True,
        "progress": True,
    },
    "export": {"path": None},  # None = RUN_DIR/encoder.safetensors; "" = no export
}


def layer_norm(x: Tensor) -> Tensor:
    return F.layer_norm(x, (x.shape[-1],))


# ----------------------------------------------------------------------------- masks


def _mask_generators(cfg: dict, grid: tuple[int, int, int]) -> list[Any]:
    from vjepa2_world_model.models import masks as M

    ar = tuple(cfg["masks"].get("aspect_ratio", (0.75, 1.5)))
    return [
        M.MultiBlockMaskGenerator(
            grid=grid, num_blocks=int(g["num_blocks"]), scale=float(g["scale"]), aspect_ratio=ar
        )
        for g in cfg["masks"]["generators"]
    ]


def sample_masks(gen: Any, n: int, seed: int, step: int, g: int) -> tuple[Tensor, Tensor]:
    """Masks for ``n`` samples of global batch ``step`` (deterministic), trimmed to equal
    sizes: (context (n,K), target (n,M)) long tensors of token indices."""
    ctx, tgt = [], []
    for i in range(n):
        rng = np.random.default_rng([seed, step, g, i])
        c, t = gen(rng)
        ctx.append(np.asarray(c, dtype=np.int64).reshape(-1))
        tgt.append(np.asarray(t, dtype=np.int64).reshape(-1))
    k = min(len(c) for c in ctx)
    m = min(len(t) for t in tgt)
    if k == 0 or m == 0:
        raise RuntimeError("mask generator produced an empty context or target set")
    out_c, out_t = [], []
    for i, (c, t) in enumerate(zip(ctx, tgt, strict=True)):
        rng = np.random.default_rng([seed, step, g, i, 1])
        out_c.append(np.sort(rng.choice(c, k, replace=False)) if len(c) > k else c)
        out_t.append(np.sort(rng.choice(t, m, replace=False)) if len(t) > m else t)
    return torch.from_numpy(np.stack(out_c)), torch.from_numpy(np.stack(out_t))


# ----------------------------------------------------------------------------- data


def preprocess_frames(frames: np.ndarray, img_size: int, crop_ratio: float) -> np.ndarray:
    """(T,H,W,3) uint8 -> (T,3,S,S) float16, normalised exactly like the encoder's input."""
    from vjepa2_world_model.preprocess import preprocess_images

    out = []
    for i in range(0, len(frames), 64):
        x = preprocess_images(
            torch.from_numpy(np.ascontiguousarray(frames[i : i + 64])), img_size, crop_ratio
        )
        out.append(x.float().numpy().astype(np.float16))
    return np.concatenate(out)


class FrameData:
    """Preprocessed frames of several episodes (memory-mapped .npy), as clip samples."""

    def __init__(self, arrays: list[np.ndarray], frames_per_clip: int, stride: int = 1) -> None:
        self.arrays = arrays
        self.fpc = frames_per_clip
        self.stride = stride
        span = (frames_per_clip - 1) * stride
        self.index = [(e, t) for e, a in enumerate(arrays) for t in range(len(a) - span)]
        if not self.index:
            raise ValueError("no frames")

    def __len__(self) -> int:
        return len(self.index)

    def get(self, idx: np.ndarray) -> Tensor:
        """Clips (B, 3, T, H, W) float32; T = 2 (one tubelet) for single frames."""
        clips = []
        for i in idx:
            e, t = self.index[int(i)]
            x = np.asarray(self.arrays[e][t : t + self.fpc * self.stride : self.stride])
            clips.append(torch.from_numpy(x.astype(np.float32)).permute(1, 0, 2, 3))
        clip = torch.stack(clips)
        if self.fpc == 1:
            clip = clip.repeat(1, 1, 2, 1, 1)
        return clip


def build_frame_cache(
    episodes: list[Path], out_dir: Path, img_size: int, crop_ratio: float, log: Any = print
) -> list[Path]:
    """Preprocess each episode's frames once (resumable)."""
    from vjepa2_world_model.data.bags import read_episode

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    t0 = time.time()
    for k, ep in enumerate(episodes):
        dst = out_dir / f"{ep.name}.npy"
        if not dst.exists():
            arr = preprocess_frames(read_episode(ep).frames, img_size, crop_ratio)
            tmp = out_dir / f"{ep.name}.tmp.npy"
            np.save(tmp, arr)
            tmp.replace(dst)
            if (k + 1) % 20 == 0:
                log(f"frame cache: {k + 1}/{len(episodes)} ({time.time() - t0:.0f}s)")
        paths.append(dst)
    return paths


# ----------------------------------------------------------------------------- model


class JEPA(nn.Module):
    """Context encoder + mask predictor; forward returns the loss for one batch."""

    def __init__(self, encoder: nn.Module, predictor: nn.Module, target: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.predictor = predictor
        self.target = target  # EMA copy, not trained by the optimizer
        for p in self.target.parameters():
            p.requires_grad_(False)

    def forward(
        self,
        clip: Tensor,
        masks: list[tuple[Tensor, Tensor]],
        grid: tuple[int, int, int] | None = None,
    ) -> Tensor:
        with torch.no_grad():
            h = layer_norm(self.target(clip))
        losses = []
        for g, (ctx_idx, tgt_idx) in enumerate(masks):
            ctx = self.encoder(clip, ctx_idx)
            pred = self.predictor(ctx, ctx_idx, tgt_idx, grid=grid, mask_index=g)
            tgt = torch.gather(h, 1, tgt_idx[..., None].expand(-1, -1, h.shape[-1]))
            losses.append((pred - tgt).abs().mean())
        return torch.stack(losses).mean()

    @torch.no_grad()
    def ema_update(self, m: float) -> None:
        for pt, pe in zip(self.target.parameters(), self.encoder.parameters(), strict=True):
            pt.mul_(m).add_(pe.detach(), alpha=1 - m)


def build_models(cfg: dict) -> tuple[nn.Module, nn.Module]:
    from vjepa2_world_model.models.mask_predictor import MaskPredictor, MaskPredictorConfig
    from vjepa2_world_model.models.vit_encoder import ENCODER_CONFIGS, VisionTransformer

    m = cfg["model"]
    if m["encoder"] not in ENCODER_CONFIGS:
        raise ValueError(
            f"unknown encoder config {m['encoder']!r}; known: {sorted(ENCODER_CONFIGS)}"
        )
    ecfg = ENCODER_CONFIGS[m["encoder"]]
    if m.get("encoder_overrides"):
        ecfg = dataclasses.replace(ecfg, **m["encoder_overrides"])
    enc = VisionTransformer(ecfg)
    pcfg = MaskPredictorConfig(
        enc_dim=ecfg.dim,
        img_size=ecfg.img_size,
        patch=ecfg.patch,
        num_mask_tokens=len(cfg["masks"]["generators"]),
        **m["predictor"],
    )
    return enc, MaskPredictor(pcfg)


def token_grid(enc: nn.Module, clip: Tensor) -> tuple[int, int, int]:
    c = enc.config
    T, H, W = clip.shape[2:]
    return (T // c.tubelet, H // c.patch, W // c.patch)


# ----------------------------------------------------------------------------- train


def train(cfg: dict, data_override: tuple | None = None) -> dict:
    """Run (or resume) pretraining; returns a summary. ``data_override`` = (train, val)."""
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

    torch.manual_seed(int(tcfg["seed"]))
    encoder, predictor = build_models(cfg)
    ecfg = encoder.config
    img, crop = ecfg.img_size, ecfg.crop_ratio
    if data_override is not None:
        train_data, val_data = data_override
    else:
        from vjepa2_world_model.data.bags import list_episodes
        from vjepa2_world_model.data.clips import split_names

        d = cfg["data"]
        eps = list_episodes(d["episodes"])
        if not eps:
            raise ValueError(f"no episodes under {d['episodes']}")
        fc = Path(d["frame_cache"]) / f"img{img}_crop{crop:.4f}"
        if dd.main:
            build_frame_cache(eps, fc, img, crop, log)
        C.barrier(dd)
        tr, va = split_names([e.name for e in eps], d["val_frac"], d["split_seed"])
        load = lambda names: [np.load(fc / f"{n}.npy", mmap_mode="r") for n in names]
        train_data = FrameData(load(tr), d["frames_per_clip"], d["frame_stride"])
        val_data = FrameData(load(va), d["frames_per_clip"], d["frame_stride"]) if va else None
        log(f"data: {len(tr)} train episodes ({len(train_data)} clips), {len(va)} val")
    target = copy.deepcopy(encoder)
    jepa = JEPA(encoder, predictor, target)
    grid = token_grid(encoder, train_data.get(np.array([0])))
    gens = _mask_generators(cfg, grid)
    opt = C.make_optimizer(nn.ModuleList([encoder, predictor]), ocfg)
    total_steps = int(tcfg["steps"])
    sched = C.schedule_from_cfg(ocfg, total_steps)
    seed = int(tcfg["seed"])
    sampler = C.DeterministicSampler(len(train_data), int(tcfg["batch_size"]), seed)
    my = sampler.rank_slice(dd.rank, dd.world)
    ckpt = run_dir / "ckpt_last.pt"
    hist = C.History(run_dir) if dd.main else None
    step = 0
    if tcfg.get("resume", True) and ckpt.exists():
        st = C.load_checkpoint(ckpt)
        encoder.load_state_dict(st["encoder"])
        predictor.load_state_dict(st["predictor"])
        target.load_state_dict(st["target"])
        opt.load_state_dict(st["optimizer"])
        C.set_rng_state(st["rng"])
        step = int(st["step"])
        if hist is not None:
            hist.truncate(step)
        log(f"resumed from {ckpt} at step {step}")
    model: nn.Module = jepa
    if dd.enabled:
        model = nn.parallel.DistributedDataParallel(jepa)
    n_enc = sum(p.numel() for p in encoder.parameters())
    n_pred = sum(p.numel() for p in predictor.parameters())
    log(
        f"encoder {cfg['model']['encoder']} {n_enc / 1e6:.2f}M + predictor "
        f"{n_pred / 1e6:.2f}M params, token grid {grid}, steps {step}->{total_steps}, "
        f"global batch {sampler.batch}, world {dd.world}"
    )
    ema = float(cfg.get("ema", 0.998))

    def save(step_: int) -> None:
        if dd.main:
            C.save_checkpoint(
                ckpt,
                {
                    "encoder": encoder.state_dict(),
                    "predictor": predictor.state_dict(),
                    "target": target.state_dict(),
                    "optimizer": opt.state_dict(),
                    "step": step_,
                    "rng": C.rng_state(),
                    "config": json.dumps(cfg),
                },
            )

    def masks_for(step_: int, n: int, sl: slice) -> list[tuple[Tensor, Tensor]]:
        out = []
        for g, gen in enumerate(gens):
            c, t = sample_masks(gen, n, seed, step_, g)
            out.append((c[sl], t[sl]))
        return out

    def evaluate() -> float:
        nb = int(cfg["data"].get("val_batches", 4))
        b = sampler.batch
        idx = np.linspace(0, len(val_data) - 1, min(len(val_data), nb * b)).round().astype(int)
        tot, cnt = 0.0, 0
        jepa.eval()
        with torch.no_grad():
            for k in range(0, len(idx), b):
                bi = idx[k : k + b]
                ms = masks_for(10**9 + k, len(bi), slice(None))  # fixed val masks
                tot += float(jepa(val_data.get(bi), ms, grid)) * len(bi)
                cnt += len(bi)
        jepa.train()
        return tot / max(1, cnt)

    losses: list[float] = []
    t_start = time.time()
    max_s = float(tcfg.get("max_minutes") or 0) * 60
    pbar = None
    if dd.main and tcfg.get("progress", True):
        from tqdm import tqdm

        pbar = tqdm(
            total=total_steps,
            initial=step,
            desc="train-encoder",
            mininterval=10,
            file=sys.stderr,
            ncols=100,
        )
    summary: dict = {"stopped": "done"}
    last: dict = {}
    try:
        while step < total_steps:
            lr = sched(step)
            C.set_lr(opt, lr)
            gidx = sampler.global_indices(step)
            clip = train_data.get(gidx[my])
            masks = masks_for(step, len(gidx), my)
            loss = model(clip, masks, grid)
            lv = C.all_reduce_mean(float(loss.detach()), dd)
            C.check_finite(lv, step, ckpt)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if tcfg.get("grad_clip"):
                nn.utils.clip_grad_norm_(
                    list(encoder.parameters()) + list(predictor.parameters()),
                    float(tcfg["grad_clip"]),
                )
            opt.step()
            jepa.ema_update(ema)
            step += 1
            losses.append(lv)
            last = {"step": step, "loss": lv, "lr": lr}
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
                v = evaluate()
                hist.add({"step": step, "val_loss": v})
                log(f"step {step}: loss {lv:.4f} val {v:.4f} lr {lr:.2e}")
                hist.plot(run_dir / "loss.png", "V-JEPA encoder pretraining")
            if step % int(tcfg["ckpt_every"]) == 0 or step == total_steps:
                save(step)
            if max_s and time.time() - t_start > max_s and step < total_steps:
                save(step)
                summary["stopped"] = "time limit"
                log(f"time limit reached at step {step}; resume with the same command")
                break
    except C.NaNLossError as e:
        log(f"ERROR: {e}")
        if pbar is not None:
            pbar.close()
        C.cleanup_distributed(dd)
        if log_f:
            log_f.close()
        raise
    if pbar is not None:
        pbar.close()
    if dd.main and hist is not None and hist.rows:
        hist.plot(run_dir / "loss.png", "V-JEPA encoder pretraining")
    if dd.main and step >= total_steps and export_path(cfg):
        export_encoder(target, export_path(cfg))
        log(f"exported target encoder to {export_path(cfg)}")
    summary.update(
        {
            "step": step,
            "losses": losses,
            "last": last,
            "wall_s": time.time() - t_start,
            "encoder": encoder,
            "target": target,
            "predictor": predictor,
        }
    )
    C.cleanup_distributed(dd)
    if log_f:
        log_f.close()
    return summary


def export_path(cfg: dict) -> Path | None:
    """Where a finished run writes its encoder: export.path, by default in the run dir."""
    path = (cfg.get("export") or {}).get("path")
    if path is None:
        return Path(cfg["run_dir"]) / "encoder.safetensors"
    return Path(path) if str(path) else None


def export_encoder(encoder: nn.Module, path: str | Path) -> None:
    """Save the (EMA target) encoder with checkpoints.save_model."""
    from vjepa2_world_model.checkpoints import save_model

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_model(encoder, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vjepa2 train-encoder", description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=None, help="YAML config")
    ap.add_argument("overrides", nargs="*", help="key.sub=value overrides")
    args = ap.parse_args(argv)
    cfg = C.load_config(args.config, args.overrides, DEFAULTS)
    try:
        summary = train(cfg)
    except C.NaNLossError as e:
        print(f"train-encoder: {e}", file=sys.stderr)
        return 3
    print(f"train-encoder: stopped ({summary['stopped']}) at step {summary['step']}")
    _print_outputs(cfg, summary)
    return 0


def _print_outputs(cfg: dict, summary: dict) -> None:
    from vjepa2_world_model.progress import outputs

    run = Path(cfg["run_dir"])
    done = summary["stopped"] == "done" and export_path(cfg)
    outputs(
        "train-encoder",
        run_dir=run,
        checkpoint=run / "ckpt_last.pt",
        log=run / "log.txt",
        loss_plot=run / "loss.png",
        **({"weights": export_path(cfg)} if done else {}),
    )


if __name__ == "__main__":
    raise SystemExit(main())
