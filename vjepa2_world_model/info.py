"""`vjepa2 info MODEL`: print a model's architecture and parameter count.

MODEL is a config name (vit_tiny, vit_giant, ac_vit_giant, mp_tiny, ...) or an own-format
``.safetensors`` file. Named configs are built on the meta device (no memory allocated).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch
from torch import nn


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def describe(model: nn.Module, name: str, show_modules: bool = False) -> str:
    """Multi-line description: kind, config fields, per-part parameter counts, total."""
    from vjepa2_world_model.checkpoints import model_kind

    kind = model_kind(model)
    lines = [f"{name}: {type(model).__name__} ({kind})", "config:"]
    lines += [f"  {k} = {v}" for k, v in dataclasses.asdict(model.cfg).items()]
    cfg = model.cfg
    if kind == "encoder":
        n = cfg.grid * cfg.grid
        lines.append(
            f"tokens: {n} per tubelet of {cfg.tubelet} frames "
            f"({cfg.grid}x{cfg.grid} patches of {cfg.patch}px), dim {cfg.dim}"
        )
    elif kind == "ac_predictor":
        lines.append(
            f"tokens per frame: {cfg.tokens_per_frame} (action, state, "
            f"{cfg.num_patches} patches), width {cfg.dim}, enc_dim {cfg.enc_dim}"
        )
    lines.append(f"head dim: {cfg.dim // cfg.heads}")
    lines.append("parameters:")
    for child_name, child in model.named_children():
        lines.append(f"  {child_name:<22} {count_params(child):>15,}")
    direct = sum(p.numel() for p in model.parameters(recurse=False))
    if direct:
        lines.append(f"  {'(own parameters)':<22} {direct:>15,}")
    total = count_params(model)
    lines.append(f"  {'total':<22} {total:>15,}  ({total / 1e6:.1f}M)")
    if show_modules:
        lines += ["", str(model)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from vjepa2_world_model.checkpoints import build_model, load_model, model_configs

    ap = argparse.ArgumentParser(prog="vjepa2 info", description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", help="config name or own-format .safetensors file")
    ap.add_argument("--modules", action="store_true", help="also print the module tree")
    ap.add_argument("--json", action="store_true", help="print kind, config, params as JSON")
    args = ap.parse_args(argv)
    configs = model_configs()
    if args.model is None:
        print("models: " + ", ".join(sorted(configs)))
        return 0
    if args.model in configs:
        model = build_model(args.model, device="meta")
    elif Path(args.model).suffix == ".safetensors":
        with torch.device("meta"):
            model = load_model(args.model, device="cpu")
    else:
        print(
            f"vjepa2 info: unknown model {args.model!r}; known: {', '.join(sorted(configs))}"
            " or a .safetensors file"
        )
        return 2
    if args.json:
        from vjepa2_world_model.checkpoints import model_kind

        print(
            json.dumps(
                {
                    "name": args.model,
                    "kind": model_kind(model),
                    "config": dataclasses.asdict(model.cfg),
                    "params": count_params(model),
                }
            )
        )
    else:
        print(describe(model, args.model, args.modules))
    return 0
