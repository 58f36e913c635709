"""Checkpoints: the officially released ``.pt`` files and the project's own safetensors format.

Own format (``save_model`` / ``load_model``): a ``.safetensors`` file whose metadata holds
``"kind"`` (``encoder`` | ``ac_predictor`` | ``mask_predictor`` | ``readout``), ``"config"``
(the config dataclass as JSON) and ``"format": "vjepa2/1"``, plus any caller metadata. A
file says what it is; ``load_model`` rebuilds the right class.

Official files (vitl/vith/vitg/vitg-384.pt, vjepa2-ac-vitg.pt): top-level dict with
``encoder`` / ``target_encoder`` / ``predictor`` entries (other keys such as ``opt``,
``scaler``, ``epoch`` are ignored); parameter keys carry ``module.backbone.`` or ``module.``
prefixes, which are stripped. The encoder comes from ``encoder`` by default (as the
reference hub loads it; ``key="target_encoder"`` picks the EMA copy the eval configs use).
Loading is strict except for the known-unused tensors of the release (``KNOWN_UNUSED``: the
``pos_embed`` / ``predictor_pos_embed`` tables a RoPE model does not use), which are
dropped with a log line naming them; any other missing, unexpected or mis-shaped key is
named in the ValueError, and so are non-finite (NaN/inf) weights. The mask predictor's
token count (10 in the release) is taken from the file. Always
``torch.load(..., weights_only=True)``.

Transforms: the released AC planning notebook resizes + centre-crops to 256 (crop ratio
1.0), the video-classification eval transform crops at 256/224. ``load_official_ac``
defaults to the notebook's (``transform="ac_notebook"``); the choice is part of the
encoder's config (``crop_ratio``) and of the metadata that ``convert`` writes, so a
converted pair always gets its own transform.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
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
log = logging.getLogger(__name__)

# Tensors of the released files that the models here do not use (after prefix strip):
# the sincos position tables of the non-RoPE variants (the hub loads these non-strictly).
KNOWN_UNUSED: dict[str, tuple[str, ...]] = {
    "encoder": ("pos_embed",),
    "mask_predictor": ("predictor_pos_embed",),
    "ac_predictor": (),
}
# Image transforms of the releases: name -> crop ratio (short side = size * ratio, then crop)
TRANSFORMS: dict[str, float] = {"ac_notebook": 1.0, "eval": 256 / 224}


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


def build_model(name: str, device: torch.device | str | None = None, **overrides: Any) -> nn.Module:
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


def save_model(
    model: nn.Module, path: str | Path, metadata: Mapping[str, Any] | None = None
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
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError) as e:
        raise ValueError(
            f"{path} is not a readable safetensors file (truncated or corrupt?): {e}"
        ) from None


def load_model(
    path: str | Path, device: torch.device | str = "cpu", dtype: torch.dtype | None = None
) -> nn.Module:
    """Rebuild the model saved by :func:`save_model` (kind from the metadata); eval mode."""
    meta = read_metadata(path)
    if meta.get("format") != FORMAT or "kind" not in meta or "config" not in meta:
        raise ValueError(
            f"{path} is not a vjepa2 model file (no kind/config metadata); "
            "official .pt releases load with load_official_encoder/_ac"
        )
    kinds = _kinds()
    if meta["kind"] not in kinds:
        raise ValueError(f"{path}: unknown model kind {meta['kind']!r}; known: {sorted(kinds)}")
    cfg_cls, cls = kinds[meta["kind"]]
    cfg = _config_from_dict(cfg_cls, json.loads(meta["config"]))
    with torch.device("meta"):
        model = cls(cfg)
    sd: dict[str, Tensor] = {}
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            for k in f.keys():  # noqa: SIM118
                sd[k] = f.get_tensor(k)
    except (SafetensorError, OSError, RuntimeError) as e:
        raise ValueError(
            f"{path}: cannot read the tensors (truncated or corrupt file?): {e}"
        ) from None
    strict_load(model, sd, str(path))
    if dtype is not None:
        model = model.to(dtype)
    return model.eval()


def load_pair(
    checkpoint: str | Path, device: torch.device | str = "cpu"
) -> tuple[VisionTransformer, ACPredictor]:
    """Load (encoder, ac_predictor) for planning from a directory, a file or a release .pt.

    A directory holds one encoder file and one AC-predictor file in the own format (e.g.
    written by ``vjepa2 convert``; the kind is read from each file's metadata); a single
    file may hold either. A released ``vjepa2-ac-*.pt`` file is converted in memory (ViT-g +
    ac_vit_giant, the planning notebook's transform). Both models in eval mode on
    ``device``. FileNotFoundError if the path does not exist; ValueError when one of the
    two is missing or a file is unreadable (truncated, wrong shapes, NaN weights, ...).
    """
    path = Path(checkpoint).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    if path.is_file() and path.suffix == ".pt":
        encoder, predictor = load_official_ac(path)
        return encoder.to(device).eval(), predictor.to(device).eval()
    files = sorted(path.glob("*.safetensors")) if path.is_dir() else [path]
    encoder = predictor = None
    for f in files:
        model = load_model(str(f))
        if isinstance(model, VisionTransformer) and encoder is None:
            encoder = model
        elif isinstance(model, ACPredictor) and predictor is None:
            predictor = model
    if encoder is None or predictor is None:
        missing = "encoder" if encoder is None else "ac_predictor"
        raise ValueError(f"{path} holds no {missing} (.safetensors, save_model)")
    return encoder.to(device).eval(), predictor.to(device).eval()


# ----------------------------------------------------------------------------- official


def strip_prefixes(
    sd: Mapping[str, Tensor], prefixes: tuple[str, ...] = PREFIXES
) -> dict[str, Tensor]:
    """Remove the first matching prefix (``module.backbone.``, ``module.``, ``backbone.``)."""
    out = {}
    for k, v in sd.items():
        for p in prefixes:
            if k.startswith(p):
                k = k[len(p) :]
                break
        out[k] = v
    return out


def strict_load(
    model: nn.Module, sd: Mapping[str, Tensor], source: str, assign: bool = True
) -> None:
    """Load ``sd`` into a (meta or real) model; ValueError naming every bad key.

    ``assign=False`` copies into the existing parameters (keeps optimizer references)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    shapes = [
        f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in sd and tuple(sd[k].shape) != tuple(v.shape)
    ]
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
    nonfinite = [
        k
        for k, v in sd.items()
        if k in expected
        and isinstance(v, Tensor)
        and v.is_floating_point()
        and not bool(torch.isfinite(v).all())
    ]
    if nonfinite:
        more = f" ... and {len(nonfinite) - 10} more" if len(nonfinite) > 10 else ""
        raise ValueError(
            f"{source}: non-finite (NaN/inf) values in {len(nonfinite)} "
            f"tensor(s): {', '.join(nonfinite[:10])}{more}"
        )
    model.load_state_dict(dict(sd), strict=True, assign=assign)


def _load_pt(src: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(src, Mapping):
        return src
    path = Path(src)
    if not path.is_file():
        raise ValueError(f"checkpoint not found: {path}")
    try:
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:  # old (non-zip) serialization cannot be memory-mapped
            if "weights_only" in str(e) or "Unsupported" in str(e):
                raise
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        if "weights_only" in str(e) or "Unsupported" in str(e):
            raise ValueError(
                f"{path}: refused by torch.load(weights_only=True) (it holds "
                f"pickled objects, not only tensors): {e}"
            ) from None
        raise ValueError(
            f"{path}: cannot read the checkpoint (truncated or corrupt?): {type(e).__name__}: {e}"
        ) from None
    if not isinstance(ckpt, Mapping):
        raise ValueError(f"{path}: expected a dict of entries, got {type(ckpt).__name__}")
    return ckpt


def _src_name(src: str | Path | Mapping[str, Any]) -> str:
    if isinstance(src, Mapping):
        return str(getattr(src, "name", "checkpoint dict"))
    return str(src)


def entries(ckpt: Mapping[str, Any]) -> list[str]:
    """Top-level entries of a released checkpoint that hold a state dict."""
    return sorted(str(k) for k, v in ckpt.items() if isinstance(v, Mapping))


def _entry(ckpt: Mapping[str, Any], key: str, source: str) -> Mapping[str, Tensor]:
    if key in ckpt and isinstance(ckpt[key], Mapping):
        return ckpt[key]
    raise ValueError(
        f"{source}: no entry {key!r}; entries holding weights: {entries(ckpt)} "
        f"(top-level keys: {sorted(map(str, ckpt))}); pick one with key=/--entry"
    )


def drop_known_unused(sd: Mapping[str, Tensor], kind: str, source: str) -> dict[str, Tensor]:
    """``sd`` without the release's known-unused tensors of ``kind`` (logged by name)."""
    unused = [k for k in KNOWN_UNUSED[kind] if k in sd]
    if unused:
        log.info(
            "%s: ignoring known-unused tensor(s) of the release: %s", source, ", ".join(unused)
        )
    return {k: v for k, v in sd.items() if k not in unused}


def _build(cls: type, cfg: Any) -> nn.Module:
    with torch.device("meta"):
        return cls(cfg)


def _resolve(cfg: Any, table: dict[str, Any], what: str) -> Any:
    if isinstance(cfg, str):
        if cfg not in table:
            raise ValueError(f"unknown {what} config {cfg!r}; known: {sorted(table)}")
        return table[cfg]
    return cfg


def _crop_ratio(transform: str | None) -> float | None:
    if transform is None:
        return None
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown transform {transform!r}; known: {sorted(TRANSFORMS)}")
    return TRANSFORMS[transform]


def load_official_encoder(
    src: str | Path | Mapping[str, Any],
    config: str | EncoderConfig = "vit_giant",
    key: str = "encoder",
    dtype: torch.dtype | None = torch.float32,
    transform: str | None = None,
) -> VisionTransformer:
    """Encoder from a released ``.pt`` (or its loaded dict). ``key`` picks the entry
    (default ``encoder``, as the reference hub; ``target_encoder`` for the EMA copy);
    ``transform`` (``ac_notebook`` | ``eval``) sets the crop ratio (None: the config's).
    Strict but for ``KNOWN_UNUSED``; returns an eval-mode model."""
    source = _src_name(src)
    ckpt = _load_pt(src)
    sd = drop_known_unused(
        strip_prefixes(_entry(ckpt, key, source)), "encoder", f"{source} [{key}]"
    )
    cfg = _resolve(config, ENCODER_CONFIGS, "encoder")
    ratio = _crop_ratio(transform)
    if ratio is not None:
        cfg = dataclasses.replace(cfg, crop_ratio=ratio)
    model = _build(VisionTransformer, cfg)
    strict_load(model, sd, f"{source} [{key}]")
    return (model.to(dtype) if dtype is not None else model).eval()


def load_official_ac(
    src: str | Path | Mapping[str, Any],
    encoder_config: str | EncoderConfig = "vit_giant",
    predictor_config: str | ACPredictorConfig = "ac_vit_giant",
    encoder_key: str = "encoder",
    dtype: torch.dtype | None = torch.float32,
    transform: str | None = "ac_notebook",
) -> tuple[VisionTransformer, ACPredictor]:
    """(encoder, AC predictor) from the released vjepa2-ac file: encoder from
    ``encoder_key`` (default ``encoder``), predictor from ``predictor``. The encoder gets
    the planning notebook's transform (resize + centre-crop, ratio 1.0) unless
    ``transform`` says otherwise (None: keep the config's). Strict, eval mode."""
    source = _src_name(src)
    ckpt = _load_pt(src)
    enc = load_official_encoder(
        ckpt if isinstance(src, Mapping) else _Named(ckpt, source),
        encoder_config,
        encoder_key,
        dtype,
        transform,
    )
    sd = drop_known_unused(
        strip_prefixes(_entry(ckpt, "predictor", source)), "ac_predictor", f"{source} [predictor]"
    )
    pred = _build(ACPredictor, _resolve(predictor_config, AC_CONFIGS, "AC predictor"))
    strict_load(pred, sd, f"{source} [predictor]")
    return enc, (pred.to(dtype) if dtype is not None else pred).eval()


def load_official_mask_predictor(
    src: str | Path | Mapping[str, Any],
    config: str | Any = "mp_vit_giant",
    key: str = "predictor",
    dtype: torch.dtype | None = torch.float32,
) -> nn.Module:
    """The pretraining mask predictor from a released encoder file (``predictor`` entry).
    Its number of mask tokens (10 in the release) is read from the file; strict but for
    ``KNOWN_UNUSED``."""
    from vjepa2_world_model.models.mask_predictor import MASK_PREDICTOR_CONFIGS, MaskPredictor

    source = _src_name(src)
    ckpt = _load_pt(src)
    sd = drop_known_unused(
        strip_prefixes(_entry(ckpt, key, source)), "mask_predictor", f"{source} [{key}]"
    )
    cfg = _resolve(config, MASK_PREDICTOR_CONFIGS, "mask predictor")
    n_tokens = len({k.split(".")[1] for k in sd if k.startswith("mask_tokens.")})
    if n_tokens and n_tokens != cfg.num_mask_tokens:
        log.info(
            "%s [%s]: %d mask tokens in the file (config %d)",
            source,
            key,
            n_tokens,
            cfg.num_mask_tokens,
        )
        cfg = dataclasses.replace(cfg, num_mask_tokens=n_tokens)
    model = _build(MaskPredictor, cfg)
    strict_load(model, sd, f"{source} [{key}]")
    return (model.to(dtype) if dtype is not None else model).eval()


class _Named(dict):
    """A loaded checkpoint dict that remembers its file name (for error messages)."""

    def __init__(self, d: Mapping[str, Any], name: str) -> None:
        super().__init__(d)
        self.name = name

    def __str__(self) -> str:
        return self.name


def to_official_layout(
    encoder: VisionTransformer | None = None,
    predictor: nn.Module | None = None,
    prefix: str = "module.",
    unused: bool = False,
) -> dict[str, Any]:
    """The inverse of the official loaders (for tests and export): a dict shaped like the
    released files, parameter keys prefixed with ``prefix``; ``unused=True`` adds the
    release's unused position tables (``pos_embed`` etc.)."""
    out: dict[str, Any] = {}
    if encoder is not None:
        sd = {prefix + k: v for k, v in encoder.state_dict().items()}
        if unused:
            c = encoder.cfg
            sd[prefix + "pos_embed"] = torch.zeros(1, c.tokens_per_tubelet * 8, c.dim)
        out["encoder"] = sd
        out["target_encoder"] = dict(sd)
    if predictor is not None:
        sd = {prefix + k: v for k, v in predictor.state_dict().items()}
        if unused and model_kind(predictor) == "mask_predictor":
            c = predictor.cfg
            sd[prefix + "predictor_pos_embed"] = torch.zeros(1, c.grid**2 * 8, c.dim)
        out["predictor"] = sd
    return out
