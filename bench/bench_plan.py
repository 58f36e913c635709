"""`vjepa2 bench plan`: planning-step speed of the CEM planner with random-init models.

``--device cuda``: the released sizes (vit_giant + ac_vit_giant) in bf16 with SDPA
attention, presets ``paper`` and ``reference``. ``--device cpu`` (or no GPU): the tiny
sizes (vit_tiny + ac_tiny), fp32. For each preset: ms per planning step (median, encode of
the current frame included), predictor FLOPs per step (analytic), achieved FLOP/s, the
ratio to the H100 bf16 dense roofline of those FLOPs, peak memory (CUDA: allocated; CPU:
growth of the process's peak RSS), and the speed-up of the KV-cached rollout over the
naive one (re-run the whole sequence each step, the reference release's approach), both
measured side by side. ``--set key=value`` overrides preset fields (e.g. a small budget,
``compile=true``, ``chunk_size=200``).
``--sweep`` measures the CEM-budget trade-off for the cpu preset: Hz with the tiny models
vs. reaching success on the synthetic world model.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import time

# On a shared, oversubscribed CPU, OpenMP's default spin-waiting makes 2-thread torch ops
# 10-25x slower (measured); passive waiting must be set before the runtime starts.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch

from vjepa2_world_model.planning import (
    RecedingHorizonPlanner,
    apply_action,
    get_preset,
    make_rollout,
)
from vjepa2_world_model.planning.flops import (
    H100_BF16_DENSE_FLOPS,
    PredictorShape,
    encoder_flops,
    plan_step_flops,
)
from vjepa2_world_model.planning.synthetic import LinearPoseWorldModel

STATE0 = [0.45, 0.0, 0.3, math.pi, 0.0, 0.0, 0.0]


def _models(encoder: str, predictor: str, device: torch.device, dtype: torch.dtype):
    from vjepa2_world_model.models.ac_predictor import AC_CONFIGS, ACPredictor
    from vjepa2_world_model.models.vit_encoder import ENCODER_CONFIGS, VisionTransformer

    torch.manual_seed(0)
    enc = VisionTransformer(ENCODER_CONFIGS[encoder]).eval().to(device, dtype)
    pred = ACPredictor(AC_CONFIGS[predictor]).eval().to(device, dtype)
    return enc, pred, ENCODER_CONFIGS[encoder], AC_CONFIGS[predictor]


def _img_size(enc_cfg) -> int:
    for k in ("img_size", "image_size", "crop_size", "resolution"):
        v = getattr(enc_cfg, k, None)
        if v is not None:
            return int(v[0] if isinstance(v, (tuple, list)) else v)
    return 256


def _enc_flops(enc_cfg, img: int) -> float:
    g = lambda *ks: next(getattr(enc_cfg, k) for k in ks if getattr(enc_cfg, k, None))
    dim, depth = int(g("dim", "embed_dim")), int(g("depth"))
    mlp = (
        float(
            getattr(enc_cfg, "mlp_dim", None)
            or getattr(enc_cfg, "mlp_hidden", None)
            or dim * float(getattr(enc_cfg, "mlp_ratio", 4.0))
        )
        / dim
    )
    tokens = (img // 16) ** 2
    return encoder_flops(dim, depth, mlp, tokens, 3 * 2 * 16 * 16)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_reset(device: torch.device) -> int:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _peak_bytes(device: torch.device, base: int) -> int:
    """CUDA: peak allocated bytes; CPU: growth of the process's peak RSS since ``base``
    (0 when an earlier, bigger run already set the high-water mark)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base)


def time_preset(
    name: str,
    enc,
    pred,
    enc_cfg,
    pred_cfg,
    device,
    repeats: int,
    overrides: dict | None = None,
    modes: tuple[str, ...] = ("cached", "naive"),
) -> dict:
    """Median ms per planning step (cached and naive), FLOPs, peak memory, plan agreement."""
    cfg = get_preset(name, **(overrides or {}))
    c = cfg.cem
    img = _img_size(enc_cfg)
    g = torch.Generator().manual_seed(0)
    obs = torch.randint(0, 256, (1, img, img, 3), generator=g, dtype=torch.uint8)
    goal_img = torch.randint(0, 256, (1, img, img, 3), generator=g, dtype=torch.uint8)
    state = torch.tensor(STATE0)
    with torch.no_grad():
        z_goal = enc.encode_images(goal_img.to(device))[0]  # once per goal
    out: dict = {
        "preset": name,
        "S": c.num_samples,
        "I": c.iterations,
        "k": c.top_k,
        "H": c.horizon,
    }
    shape = PredictorShape.from_config(pred_cfg)
    planners = {
        m: RecedingHorizonPlanner(
            make_rollout(pred, m, amp=cfg.amp, compile=cfg.compile, chunk_size=cfg.chunk_size),
            cfg,
            device,
        )
        for m in modes
    }
    times: dict[str, list[float]] = {m: [] for m in modes}
    enc_times: dict[str, list[float]] = {m: [] for m in modes}
    peaks: dict[str, int] = dict.fromkeys(modes, 0)
    plans = {}
    heavy = c.num_samples * c.iterations * c.horizon > 2000 and device.type != "cuda"
    for i in range(repeats + (0 if heavy else 1)):  # warm-up call unless heavy on CPU
        for mode in modes:  # interleaved, so load changes hit both modes alike
            planner = planners[mode]
            planner.reset()
            _sync(device)
            base = _peak_reset(device)
            t0 = time.perf_counter()
            with torch.no_grad():
                z = enc.encode_images(obs.to(device))[0]
            _sync(device)
            t1 = time.perf_counter()
            r = planner.plan(z, state, z_goal)
            t2 = time.perf_counter()
            peaks[mode] = max(peaks[mode], _peak_bytes(device, base))
            if i or heavy:
                times[mode].append((t2 - t0) * 1e3)
                enc_times[mode].append((t1 - t0) * 1e3)
            plans[mode] = r.actions
    for mode in modes:
        flops = plan_step_flops(shape, c.num_samples, c.iterations, c.horizon, mode == "cached")
        ms = statistics.median(times[mode])
        out[mode] = {
            "ms": ms,
            "enc_ms": statistics.median(enc_times[mode]),
            "flops": flops,
            "flops_s": flops / (ms / 1e3),
            "peak_mb": peaks[mode] / 2**20,
            "roofline_ratio": (ms / 1e3) / (flops / H100_BF16_DENSE_FLOPS),
        }
    if len(plans) == 2:
        out["speedup"] = out["naive"]["ms"] / out["cached"]["ms"]
        out["plan_diff"] = float((plans["cached"] - plans["naive"]).abs().max())
    out["enc_flops"] = _enc_flops(enc_cfg, img)
    return out


def synthetic_quality(
    cfg_overrides: dict, trials: int = 10, steps: int = 8, tol: float = 0.01
) -> dict:
    """Planning quality of a cpu-preset budget on the synthetic world model (analytic
    optimum): one-step action error (mm) for goals inside one step's L1 ball, and
    closed-loop reaching of goals up to ~20 cm in ``steps`` steps (success = final xyz
    error < tol and gripper within 0.1)."""
    cfg = get_preset("cpu", **cfg_overrides)
    one, errs, ok = [], [], 0
    for t in range(trials):
        wm = LinearPoseWorldModel(seed=100 + t)
        g = torch.Generator().manual_seed(t)
        s0 = torch.tensor(STATE0)
        d = torch.randn(3, generator=g)
        d = d / d.abs().sum() * 0.07 * float(torch.rand(1, generator=g))
        goal = s0.clone()
        goal[:3] += d
        goal[6] = float(torch.rand(1, generator=g))
        r = RecedingHorizonPlanner(wm, cfg).plan(wm.features(s0), s0, wm.features(goal))
        one.append(float((r.action[:3] - d).norm()))
        goal = s0.clone()
        goal[:3] += (torch.rand(3, generator=g) * 2 - 1) * torch.tensor([0.15, 0.15, 0.1])
        goal[6] = float(torch.rand(1, generator=g) > 0.5)
        planner, s = RecedingHorizonPlanner(wm, cfg), s0.clone()
        z_goal = wm.features(goal)
        for _ in range(steps):
            s = apply_action(s, planner.plan(wm.features(s), s, z_goal).action)
        err = float((s[:3] - goal[:3]).norm())
        errs.append(err)
        ok += err < tol and abs(float(s[6] - goal[6])) < 0.1
    return {
        "one_step_mm": statistics.median(one) * 1e3,
        "one_step_max_mm": max(one) * 1e3,
        "success": ok / trials,
        "final_mm": statistics.median(errs) * 1e3,
    }


def matmul_gflops(device: torch.device, dtype: torch.dtype) -> float:
    """Achievable matmul GFLOP/s right now at the predictor's shapes (load context)."""
    a = torch.randn(8448, 128, device=device, dtype=dtype)
    w = torch.randn(512, 128, device=device, dtype=dtype)
    for _ in range(3):
        a @ w.T
    _sync(device)
    t0, n = time.perf_counter(), 20
    for _ in range(n):
        a @ w.T
    _sync(device)
    return 2 * a.shape[0] * 128 * 512 * n / (time.perf_counter() - t0) / 1e9


def _print_row(r: dict) -> None:
    c, n = r["cached"], r["naive"]
    print(
        f"{r['preset']:<10} {r['S']:>4}/{r['I']:>2}/{r['k']:>2}/{r['H']} "
        f"{c['ms']:>9.1f} {1e3 / c['ms']:>6.2f} {c['enc_ms']:>6.1f} {c['flops'] / 1e9:>9.2f} "
        f"{c['flops_s'] / 1e9:>8.1f} {c['roofline_ratio']:>8.1f}x {c['peak_mb']:>8.0f} | "
        f"{n['ms']:>9.1f} {n['flops'] / 1e9:>9.2f} {n['peak_mb']:>8.0f} "
        f"{r['speedup']:>6.2f}x {r['plan_diff']:>8.1e}"
    )


def _parse_sets(items: list[str]) -> dict:
    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep:
            raise SystemExit(f"--set expects key=value, got {item!r}")
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vjepa2 bench plan", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--presets",
        default=None,
        help="default: paper,reference on CUDA; cpu,reference,paper on CPU",
    )
    ap.add_argument("--encoder", default=None, help="default: vit_giant on CUDA, vit_tiny on CPU")
    ap.add_argument(
        "--predictor", default=None, help="default: ac_vit_giant on CUDA, ac_tiny on CPU"
    )
    ap.add_argument("--device", default="auto", help="auto | cuda | cuda:N | cpu")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a preset field for every preset (e.g. num_samples=8)",
    )
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sweep", action="store_true", help="cpu-preset CEM budget trade-off")
    ap.add_argument("--trials", type=int, default=10, help="synthetic trials per sweep row")
    args = ap.parse_args(argv)
    if args.repeats < 5:
        print("note: fewer than 5 repeats; medians are rough")
    torch.set_num_threads(args.threads)
    want = args.device
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want.startswith("cuda") and not torch.cuda.is_available():
        print(
            f"no CUDA device: {want} unavailable, running the tiny sizes on the CPU instead "
            "(GPU figures unmeasured)"
        )
        want = "cpu"
    device = torch.device(want)
    gpu = device.type == "cuda"
    args.encoder = args.encoder or ("vit_giant" if gpu else "vit_tiny")
    args.predictor = args.predictor or ("ac_vit_giant" if gpu else "ac_tiny")
    args.presets = args.presets or ("paper,reference" if gpu else "cpu,reference,paper")
    sets = _parse_sets(args.set)
    dtype = torch.bfloat16 if gpu else torch.float32
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = True
    enc, pred, enc_cfg, pred_cfg = _models(args.encoder, args.predictor, device, dtype)
    print(
        f"device {device} ({torch.get_num_threads()} threads, OMP_WAIT_POLICY="
        f"{os.environ.get('OMP_WAIT_POLICY')}), {dtype}, models "
        f"{args.encoder} + {args.predictor} (random init)"
    )
    print(
        f"matmul throughput now (8448x128 @ 128x512): {matmul_gflops(device, dtype):.1f} "
        "GFLOP/s (the machine is shared; judge achieved FLOP/s against this)"
    )
    print(
        "ms/step = encode current frame + plan; FLOPs = predictor, analytic; "
        "x roof = ms / H100 bf16 dense roofline of those FLOPs; peak MB = "
        + ("CUDA max allocated" if gpu else "growth of process peak RSS")
        + "; speed-up = naive ms / cached ms"
        + (f"; overrides {sets}" if sets else "")
    )
    print(
        f"{'preset':<10} {'S/I/k/H':>11} {'cached ms':>9} {'Hz':>6} {'enc ms':>6} "
        f"{'GFLOP':>9} {'GFLOP/s':>8} {'x roof':>9} {'peak MB':>8} | {'naive ms':>9} "
        f"{'GFLOP':>9} {'peak MB':>8} {'speedup':>7} {'|dplan|':>8}"
    )
    for name in [p for p in args.presets.split(",") if p]:
        _print_row(time_preset(name, enc, pred, enc_cfg, pred_cfg, device, args.repeats, sets))
    if "cpu" in args.presets.split(","):
        # as the bringups run it: + the hold rule's one extra batched call (<= 4 variants)
        r = time_preset(
            "cpu",
            enc,
            pred,
            enc_cfg,
            pred_cfg,
            device,
            args.repeats,
            {**sets, "hold_margin": 0.0},
            modes=("cached",),
        )
        ms = r["cached"]["ms"]
        print(
            f"{'cpu+hold':<10} {'(bringup)':>11} {ms:>9.1f} {1e3 / ms:>6.2f} "
            f"{r['cached']['enc_ms']:>6.1f}   (cpu preset + hold_margin 0, as launched)"
        )

    from vjepa2_world_model.models.ac_predictor import AC_CONFIGS

    giant = PredictorShape.from_config(AC_CONFIGS["ac_vit_giant"])
    paper = get_preset("paper").cem
    for mode in ("cached", "naive"):
        f = plan_step_flops(
            giant, paper.num_samples, paper.iterations, paper.horizon, mode == "cached"
        )
        print(
            f"roofline: paper preset, ac_vit_giant, {mode}: {f / 1e12:.0f} TFLOP/step -> "
            f"{f / H100_BF16_DENSE_FLOPS:.2f} s/step at H100 bf16 dense peak "
            f"({H100_BF16_DENSE_FLOPS / 1e12:.0f} TFLOP/s)"
        )
    ref = get_preset("reference").cem
    for mode in ("cached", "naive"):
        f = plan_step_flops(giant, ref.num_samples, ref.iterations, ref.horizon, mode == "cached")
        print(
            f"roofline: reference preset (H=2), ac_vit_giant, {mode}: {f / 1e12:.0f} "
            f"TFLOP/step -> {f / H100_BF16_DENSE_FLOPS:.2f} s/step"
        )

    if args.sweep:
        print(
            "\ncpu-preset sweep: Hz with the tiny models (cached) vs. synthetic reaching "
            f"({args.trials} goals; one step inside the L1 ball; reach up to ~20 cm in 8 steps, "
            "success = <1 cm and gripper)"
        )
        print(
            f"{'S/I/k':>10} {'ms':>8} {'Hz':>6} | {'1-step err mm (med/max)':>23} "
            f"{'reach success':>13} {'final mm':>8}"
        )
        for s_, i_, k_ in [
            (32, 4, 4),
            (48, 3, 6),
            (64, 2, 8),
            (40, 4, 5),
            (48, 4, 6),
            (64, 3, 8),
            (64, 4, 8),
            (96, 4, 8),
            (128, 6, 8),
        ]:
            ov = {"num_samples": s_, "iterations": i_, "top_k": k_}
            r = time_preset(
                "cpu", enc, pred, enc_cfg, pred_cfg, device, args.repeats, ov, modes=("cached",)
            )
            q = synthetic_quality(ov, trials=args.trials)
            ms = r["cached"]["ms"]
            print(
                f"{s_:>4}/{i_:>2}/{k_:>2} {ms:>8.1f} {1e3 / ms:>6.2f} | "
                f"{q['one_step_mm']:>11.2f} / {q['one_step_max_mm']:>9.2f} "
                f"{q['success']:>13.0%} {q['final_mm']:>8.1f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
