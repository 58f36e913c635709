"""`vjepa2 convert`: released V-JEPA 2 ``.pt`` files -> the project's safetensors directory.

    vjepa2 convert vjepa2-ac-vitg.pt weights/vjepa2_ac_vitg        # encoder + AC predictor
    vjepa2 convert vitg.pt weights/vitg --kind encoder            # encoder (+ mask predictor)

The output directory is what the nodes' ``checkpoint:=`` takes. Each file's metadata
records where it came from (``source``, ``entry``) and its image transform
(``transform``, ``crop_ratio``; the AC release defaults to the planning notebook's
resize + centre-crop), so a converted pair always gets its own transform. Files are read
with ``torch.load(weights_only=True)``; nothing pickled is executed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

import torch

from vjepa2_world_model import checkpoints as ck

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _overrides(items: list[str], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--{what}-set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def _config(name: str, table: dict[str, Any], sets: list[str], what: str) -> Any:
    if name not in table:
        raise ValueError(f"unknown {what} config {name!r}; known: {sorted(table)}")
    ov = _overrides(sets, what)
    try:
        return dataclasses.replace(table[name], **ov) if ov else table[name]
    except TypeError as e:
        raise ValueError(f"--{what}-set: {e}") from None


def detect_kind(ckpt: dict) -> str:
    """``ac`` when the ``predictor`` entry is action-conditioned, else ``encoder``."""
    pred = ckpt.get("predictor")
    if isinstance(pred, dict) and any(k.endswith("action_encoder.weight") for k in pred):
        return "ac"
    return "encoder"


def convert(
    src: str | Path,
    out_dir: str | Path,
    kind: str = "auto",
    encoder_config: Any = "vit_giant",
    predictor_config: Any = "ac_vit_giant",
    mask_predictor_config: Any = "mp_vit_giant",
    entry: str = "encoder",
    transform: str | None = None,
    dtype: torch.dtype = torch.float32,
    mask_predictor: bool = False,
) -> list[Path]:
    """Convert one released file into ``out_dir``; returns the written files."""
    src = Path(src)
    ckpt = ck._Named(ck._load_pt(src), str(src))
    kind = detect_kind(ckpt) if kind == "auto" else kind
    if kind not in ("ac", "encoder"):
        raise ValueError(f"kind must be auto, ac or encoder, got {kind!r}")
    transform = transform or ("ac_notebook" if kind == "ac" else "eval")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "source": src.name,
        "entry": entry,
        "transform": transform,
        "crop_ratio": ck.TRANSFORMS.get(transform, None),
        "converted_by": "vjepa2 convert",
    }
    written: list[Path] = []
    if kind == "ac":
        enc, pred = ck.load_official_ac(
            ckpt, encoder_config, predictor_config, entry, dtype, transform
        )
        written.append(ck.save_model(enc, out_dir / "encoder.safetensors", meta))
        written.append(
            ck.save_model(
                pred, out_dir / "ac_predictor.safetensors", {**meta, "entry": "predictor"}
            )
        )
    else:
        enc = ck.load_official_encoder(ckpt, encoder_config, entry, dtype, transform)
        written.append(ck.save_model(enc, out_dir / "encoder.safetensors", meta))
        if mask_predictor:
            mp = ck.load_official_mask_predictor(ckpt, mask_predictor_config, "predictor", dtype)
            written.append(
                ck.save_model(
                    mp, out_dir / "mask_predictor.safetensors", {**meta, "entry": "predictor"}
                )
            )
    return written


def main(argv: list[str] | None = None) -> int:
    from vjepa2_world_model.models.ac_predictor import AC_CONFIGS
    from vjepa2_world_model.models.mask_predictor import MASK_PREDICTOR_CONFIGS
    from vjepa2_world_model.models.vit_encoder import ENCODER_CONFIGS

    ap = argparse.ArgumentParser(prog="vjepa2 convert", description=__doc__.splitlines()[0])
    ap.add_argument("src", help="released .pt file (vitg.pt, vjepa2-ac-vitg.pt, ...)")
    ap.add_argument("out_dir", help="output directory (give it to checkpoint:=)")
    ap.add_argument("--kind", default="auto", choices=["auto", "ac", "encoder"])
    ap.add_argument("--encoder-config", default="vit_giant", help=f"{sorted(ENCODER_CONFIGS)}")
    ap.add_argument("--predictor-config", default="ac_vit_giant", help=f"{sorted(AC_CONFIGS)}")
    ap.add_argument(
        "--mask-predictor-config", default="mp_vit_giant", help=f"{sorted(MASK_PREDICTOR_CONFIGS)}"
    )
    ap.add_argument(
        "--encoder-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override an encoder config field (repeatable)",
    )
    ap.add_argument("--predictor-set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--mask-predictor-set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument(
        "--entry",
        default="encoder",
        help="entry holding the encoder (default encoder, as the reference hub; "
        "target_encoder = the EMA copy)",
    )
    ap.add_argument(
        "--transform",
        default=None,
        choices=sorted(ck.TRANSFORMS),
        help="image transform (default: ac_notebook for the AC release, eval else)",
    )
    ap.add_argument(
        "--mask-predictor",
        action="store_true",
        help="also convert the pretraining mask predictor (encoder files)",
    )
    ap.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        files = convert(
            args.src,
            args.out_dir,
            args.kind,
            _config(args.encoder_config, ENCODER_CONFIGS, args.encoder_set, "encoder"),
            _config(args.predictor_config, AC_CONFIGS, args.predictor_set, "predictor"),
            _config(
                args.mask_predictor_config,
                MASK_PREDICTOR_CONFIGS,
                args.mask_predictor_set,
                "mask-predictor",
            ),
            args.entry,
            args.transform,
            DTYPES[args.dtype],
            args.mask_predictor,
        )
    except ValueError as e:
        print(f"vjepa2 convert: {e}", file=sys.stderr)
        return 1
    for f in files:
        meta = ck.read_metadata(f)
        print(f"wrote {f} ({meta['kind']}, transform {meta.get('transform')})")
    return 0
