"""`vjepa2 bench models`: encoder and AC-predictor throughput, printed as a table.

Rows: encoder on single images (one tubelet each) and on 4-frame clips; AC predictor
teacher forcing over 4-frame clips and KV-cached ``step`` at a CEM-like batch. frames/s counts
input frames (an image counts as one frame); tokens/s counts transformer tokens processed.
Defaults: tiny configs, CPU, random weights (speed does not depend on the weights).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch


def _time(fn: Callable[[], object], repeat: int, warmup: int = 1) -> float:
    """Median seconds per call."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2]


def run(
    encoder: str = "vit_tiny",
    predictor: str = "ac_tiny",
    batch: int = 8,
    samples: int = 64,
    repeat: int = 3,
    device: str = "cpu",
) -> list[dict]:
    from vjepa2_world_model.models.ac_predictor import AC_CONFIGS, ACPredictor
    from vjepa2_world_model.models.vit_encoder import ENCODER_CONFIGS, VisionTransformer

    torch.manual_seed(0)
    ecfg = ENCODER_CONFIGS[encoder]
    enc = VisionTransformer(ecfg).to(device).eval()
    pcfg = AC_CONFIGS[predictor]
    if pcfg.enc_dim != ecfg.dim:
        raise ValueError(f"{predictor} enc_dim {pcfg.enc_dim} != {encoder} dim {ecfg.dim}")
    pred = ACPredictor(pcfg).to(device).eval()
    S, g = ecfg.img_size, ecfg.grid
    rows = []

    def add(name: str, fn: Callable[[], object], frames: int, tokens: int, shape: str) -> None:
        if device.startswith("cuda"):
            inner = fn

            def fn() -> None:
                inner()
                torch.cuda.synchronize()

        sec = _time(fn, repeat)
        rows.append(
            {
                "model": name,
                "shape": shape,
                "ms": sec * 1e3,
                "frames_s": frames / sec,
                "tokens_s": tokens / sec,
            }
        )

    with torch.inference_mode():
        imgs = torch.randint(0, 256, (batch, 256, 256, 3), dtype=torch.uint8, device=device)
        add(
            f"{encoder} encode_images",
            lambda: enc.encode_images(imgs),
            batch,
            batch * g * g,
            f"{batch} x 256x256 uint8",
        )
        clip = torch.randn(batch, 3, 4, S, S, device=device)
        add(
            f"{encoder} clip",
            lambda: enc(clip),
            batch * 4,
            batch * 2 * g * g,
            f"{batch} x 4 frames",
        )
        T, N, E = 4, pcfg.num_patches, pcfg.enc_dim
        z = torch.randn(batch, T, N, E, device=device)
        a = torch.randn(batch, T, 7, device=device)
        add(
            f"{predictor} teacher forcing",
            lambda: pred(z, a, a),
            batch * T,
            batch * T * pcfg.tokens_per_frame,
            f"{batch} x {T} frames",
        )
        zs = torch.randn(samples, N, E, device=device)
        a1 = torch.randn(samples, 7, device=device)

        def rollout() -> None:
            cache = pred.new_cache()
            zt = zs
            for _ in range(2):
                zt = pred.step(zt, a1, a1, cache)

        add(
            f"{predictor} KV step x2",
            rollout,
            samples * 2,
            samples * 2 * pcfg.tokens_per_frame,
            f"{samples} samples, H=2",
        )
    return rows


def format_table(rows: list[dict]) -> str:
    head = f"{'model':<28} {'input':<22} {'ms/call':>9} {'frames/s':>10} {'tokens/s':>11}"
    lines = [head, "-" * len(head)]
    lines += [
        f"{r['model']:<28} {r['shape']:<22} {r['ms']:>9.1f} {r['frames_s']:>10.1f} "
        f"{r['tokens_s']:>11.0f}"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vjepa2 bench models", description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", default="vit_tiny")
    ap.add_argument("--predictor", default="ac_tiny")
    ap.add_argument("--batch", type=int, default=8, help="images / clips per call")
    ap.add_argument("--samples", type=int, default=64, help="CEM-like batch for KV steps")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = run(args.encoder, args.predictor, args.batch, args.samples, args.repeat, args.device)
    print(f"device {args.device}, threads {torch.get_num_threads()}, torch {torch.__version__}")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
