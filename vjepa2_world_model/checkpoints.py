"""Checkpoints: the officially released ``.pt`` files and the project's own safetensors format.

Own format (``save_model`` / ``load_model``): a ``.safetensors`` file whose metadata holds
``"kind"`` (``encoder`` | ``ac_predictor`` | ``mask_predictor`` | ``readout``), ``"config"``
(the config dataclass as JSON) and ``"format": "vjepa2/1"``, plus any caller metadata. A
file says what it is; ``load_model`` rebuilds the right class.

Official files (vitl/vith/vitg/vitg-384.pt, vjepa2-ac-vitg.pt): top-level dict with
``encoder`` / ``target_encoder`` / ``predictor`` entries (other keys such as ``opt``,
``scaler``, ``epoch`` are ignored); parameter keys carry ``module.backbone.`` or ``module.``
prefixes, which are stripped. Loading is strict: missing, unexpected or mis-shaped keys are
named in the ValueError. Always ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from vjepa2_world_model.models.ac_predictor import AC_CONFIGS, ACPredictor, ACPredictorConfig
from vjepa2_world_model.models.vit_encoder import (
    ENCODER_CONFIGS,
    EncoderConfig,
    VisionTransformer,
)

FORMAT = "vjepa2/1"
PREFIXES = ("module.backbone.", "module.", "backbone.")


# ----------------------------------------------------------------------------- registry


def _kinds() -> dict[str, tuple[type, type]]:
    from vjepa2_world_model.models.mask_predictor import MaskPredictor, MaskPredictorConfig
    from vjepa2_world_model.models.readout import ReadoutConfig, StateReadout

    return {
        "encoder": (EncoderConfig, VisionTransformer),
        "ac_predictor": (ACPredictorConfig, ACPredictor),
        "mask_predictor": (MaskPredictorConfig, MaskPredictor),
        "readout": (ReadoutConfig, StateReadout),
    }


def model_configs() -> dict[str, tuple[str, Any]]:
    """All named configs: name -> (kind, config)."""
    from vjepa2_world_model.models.mask_predictor import MASK_PREDICTOR_CONFIGS

    out: dict[str, tuple[str, Any]] = {}
    out.update({n: ("encoder", c) for n, c in ENCODER_CONFIGS.items()})
    out.update({n: ("ac_predictor", c) for n, c in AC_CONFIGS.items()})
    out.update({n: ("mask_predictor", c) for n, c in MASK_PREDICTOR_CONFIGS.items()})
    return out


def build_model(name: str, device: torch.device | str | None = None,
                **overrides: Any) -> nn.Module:
    """Model from a config name (``vit_tiny``, ``ac_vit_giant``, ...); ``device="meta"``
    builds without allocating memory. ``overrides`` replace config fields."""
    configs = model_configs()
    if name not in configs:
        raise ValueError(f"unknown model config {name!r}; known: {sorted(configs)}")
    kind, cfg = configs[name]
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    cls = _kinds()[kind][1]
    with torch.device(device) if device is not None else _nullctx():
        return cls(cfg)


class _nullctx:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None


def model_kind(model: nn.Module) -> str:
    for kind, (_, cls) in _kinds().items():
        if isinstance(model, cls):
            return kind
    raise ValueError(f"not a vjepa2 model: {type(model).__name__}")


def _config_from_dict(cfg_cls: type, d: dict) -> Any:
    names = {f.name for f in dataclasses.fields(cfg_cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"config has unknown fields {unknown} for {cfg_cls.__name__}")
    return cfg_cls(**d)


# ----------------------------------------------------------------------------- own format


def save_model(model: nn.Module, path: str | Path, metadata: Mapping[str, Any] | None = None
               ) -> Path:
    """Write ``model`` as safetensors with kind + JSON config (+ ``metadata``) in the header.

    Non-string metadata values are stored as JSON.
    """
    kind = model_kind(model)
    meta = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()}
    for reserved in ("kind", "config", "format"):
        if reserved in meta:
            raise ValueError(f"metadata key {reserved!r} is reserved")
    meta.update(kind=kind, config=json.dumps(dataclasses.asdict(model.cfg)), format=FORMAT)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    path = Path(path)
    save_file(tensors, str(path), metadata=meta)
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    """The safetensors header metadata of an own-format file (kind, config, extra keys)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint not found: {path}")
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def load_model(path: str | Path, device: torch.device | str = "cpu",
               dtype: torch.dtype | None = None) -> nn.Module:
    """Rebuild the model saved by :func:`save_model` (kind from the metadata); eval mode."""
    meta = read_metadata(path)
    if meta.get("format") != FORMAT or "kind" not in meta or "config" not in meta:
        raise ValueError(f"{path} is not a vjepa2 model file (no kind/config metadata); "
                         "official .pt releases load with load_official_encoder/_ac")
    kinds = _kinds()
    if meta["kind"] not in kinds:
        raise ValueError(f"{path}: unknown model kind {meta['kind']!r}; known: {sorted(kinds)}")
    cfg_cls, cls = kinds[meta["kind"]]
    cfg = _config_from_dict(cfg_cls, json.loads(meta["config"]))
    with torch.device("meta"):
        model = cls(cfg)
    sd: dict[str, Tensor] = {}
    with safe_open(str(path), framework="pt", device=str(device)) as f:
        for k in f.keys():  # noqa: SIM118
            sd[k] = f.get_tensor(k)
    strict_load(model, sd, str(path))
    if dtype is not None:
        model = model.to(dtype)
    return model.eval()


# ----------------------------------------------------------------------------- official


def strip_prefixes(sd: Mapping[str, Tensor], prefixes: tuple[str, ...] = PREFIXES
                   ) -> dict[str, Tensor]:
    """Remove the first matching prefix (``module.backbone.``, ``module.``, ``backbone.``)."""
    out = {}
    for k, v in sd.items():
        for p in prefixes:
            if k.startswith(p):
                k = k[len(p):]
                break
        out[k] = v
    return out


def strict_load(model: nn.Module, sd: Mapping[str, Tensor], source: str,
                assign: bool = True) -> None:
    """Load ``sd`` into a (meta or real) model; ValueError naming every bad key.

    ``assign=False`` copies into the existing parameters (keeps optimizer references)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    shapes = [f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(v.shape)}"
              for k, v in expected.items() if k in sd and tuple(sd[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        lines = [f"{source} does not match {type(model).__name__} ({len(expected)} keys):"]

        def listing(title: str, keys: list[str], other: list[str]) -> None:
            lines.append(f"  {title} ({len(keys)}):")
            for k in keys[:20]:
                close = difflib.get_close_matches(k, other, n=1, cutoff=0.8)
                lines.append(f"    {k}" + (f"  (did you mean {close[0]}?)" if close else ""))
            if len(keys) > 20:
                lines.append(f"    ... and {len(keys) - 20} more")

        if missing:
            listing("missing keys", missing, unexpected)
        if unexpected:
            listing("unexpected keys", unexpected, missing)
        if shapes:
            lines.append(f"  shape mismatches ({len(shapes)}):")
            lines += [f"    {s}" for s in shapes[:20]]
        raise ValueError("\n".join(lines))
    model.load_state_dict(dict(sd), strict=True, assign=assign)


def _load_pt(src: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(src, Mapping):
        return src
    path = Path(src)
    if not path.is_file():
        raise ValueError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # old (non-zip) serialization cannot be memory-mapped
        return torch.load(path, map_location="cpu", weights_only=True)


def _entry(ckpt: Mapping[str, Any], keys: tuple[str, ...], source: str) -> Mapping[str, Tensor]:
    for k in keys:
        if k in ckpt and isinstance(ckpt[k], Mapping):
            return ckpt[k]
    raise ValueError(f"{source}: none of the entries {list(keys)} found; top-level keys: "
                     f"{sorted(map(str, ckpt))}")


def _build(cls: type, cfg: Any) -> nn.Module:
    with torch.device("meta"):
        return cls(cfg)


def _resolve(cfg: Any, table: dict[str, Any], what: str) -> Any:
    if isinstance(cfg, str):
        if cfg not in table:
            raise ValueError(f"unknown {what} config {cfg!r}; known: {sorted(table)}")
        return table[cfg]
    return cfg


def load_official_encoder(src: str | Path | Mapping[str, Any],
                          config: str | EncoderConfig = "vit_giant",
                          key: str | None = None,
                          dtype: torch.dtype | None = torch.float32) -> VisionTransformer:
    """Encoder from a released ``.pt`` (or its loaded dict); ``key`` picks the entry
    (default ``target_encoder``, else ``encoder``). Strict; returns an eval-mode model."""
    source = str(src) if not isinstance(src, Mapping) else "checkpoint dict"
    ckpt = _load_pt(src)
    sd = strip_prefixes(_entry(ckpt, (key,) if key else ("target_encoder", "encoder"), source))
    model = _build(VisionTransformer, _resolve(config, ENCODER_CONFIGS, "encoder"))
    strict_load(model, sd, f"{source} [encoder]")
    return (model.to(dtype) if dtype is not None else model).eval()


def load_official_ac(src: str | Path | Mapping[str, Any],
                     encoder_config: str | EncoderConfig = "vit_giant",
                     predictor_config: str | ACPredictorConfig = "ac_vit_giant",
                     encoder_key: str | None = None,
                     dtype: torch.dtype | None = torch.float32
                     ) -> tuple[VisionTransformer, ACPredictor]:
    """(encoder, AC predictor) from the released vjepa2-ac file. The encoder comes from
    ``encoder_key`` (default ``encoder``, else ``target_encoder``), the predictor from
    ``predictor``. Strict, eval mode."""
    source = str(src) if not isinstance(src, Mapping) else "checkpoint dict"
    ckpt = _load_pt(src)
    enc = load_official_encoder(
        ckpt, encoder_config, encoder_key or ("encoder" if "encoder" in ckpt else None), dtype)
    sd = strip_prefixes(_entry(ckpt, ("predictor",), source))
    pred = _build(ACPredictor, _resolve(predictor_config, AC_CONFIGS, "AC predictor"))
    strict_load(pred, sd, f"{source} [predictor]")
    return enc, (pred.to(dtype) if dtype is not None else pred).eval()


def to_official_layout(encoder: VisionTransformer | None = None,
                       predictor: ACPredictor | None = None,
                       prefix: str = "module.") -> dict[str, Any]:
    """The inverse of the official loaders (for tests and export): a dict shaped like the
    released files, parameter keys prefixed with ``prefix``."""
    out: dict[str, Any] = {}
    if encoder is not None:
        sd = {prefix + k: v for k, v in encoder.state_dict().items()}
        out["encoder"] = sd
        out["target_encoder"] = dict(sd)
    if predictor is not None:
        out["predictor"] = {prefix + k: v for k, v in predictor.state_dict().items()}
    return out
