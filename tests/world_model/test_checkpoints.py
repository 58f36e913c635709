"""Own safetensors format round trip; released .pt layouts (prefixes, extra keys), strictness."""

import dataclasses

import pytest
import torch

from vjepa2_world_model.checkpoints import (
    build_model,
    load_model,
    load_official_ac,
    load_official_encoder,
    read_metadata,
    save_model,
    to_official_layout,
)
from vjepa2_world_model.models.ac_predictor import AC_CONFIGS, ACPredictor
from vjepa2_world_model.models.mask_predictor import MaskPredictor
from vjepa2_world_model.models.vit_encoder import ENCODER_CONFIGS, VisionTransformer

ENC = dataclasses.replace(ENCODER_CONFIGS["vit_tiny"], depth=2)
AC = dataclasses.replace(AC_CONFIGS["ac_tiny"], depth=2)


def _clip():
    return torch.randn(2, 3, 2, 128, 128, generator=torch.Generator().manual_seed(0))


def _ac_inputs():
    g = torch.Generator().manual_seed(1)
    return (
        torch.randn(1, 2, 64, 192, generator=g),
        torch.randn(1, 2, 7, generator=g),
        torch.randn(1, 2, 7, generator=g),
    )


@pytest.mark.parametrize(
    "name,cls",
    [("vit_tiny", VisionTransformer), ("ac_tiny", ACPredictor), ("mp_tiny", MaskPredictor)],
)
def test_own_format_round_trip(tmp_path, name, cls):
    torch.manual_seed(0)
    m = build_model(name, depth=1)
    path = save_model(m, tmp_path / f"{name}.safetensors", metadata={"step": 7, "note": "x"})
    meta = read_metadata(path)
    assert meta["kind"] == cls.kind and meta["step"] == "7" and meta["note"] == "x"
    m2 = load_model(path)
    assert type(m2) is cls and m2.cfg == m.cfg and not m2.training
    for (k, v), (k2, v2) in zip(m.state_dict().items(), m2.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2)


def test_own_format_rejects_foreign_file(tmp_path):
    from safetensors.torch import save_file

    p = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(p))
    with pytest.raises(ValueError, match="not a vjepa2 model file"):
        load_model(p)
    with pytest.raises(ValueError, match="not found"):
        load_model(tmp_path / "missing.safetensors")


def test_build_model_meta_and_unknown():
    m = build_model("vit_giant", device="meta")
    assert next(m.parameters()).is_meta
    with pytest.raises(ValueError, match="unknown model config 'vit_nope'"):
        build_model("vit_nope")


def test_released_ac_layout_round_trip(tmp_path):
    """vjepa2-ac layout: module. prefixes, encoder + predictor (with extrinsics), extra keys."""
    torch.manual_seed(0)
    enc, pred = VisionTransformer(ENC).eval(), ACPredictor(AC).eval()
    ckpt = to_official_layout(enc, pred, prefix="module.")
    ckpt.update(opt={"state": {}, "param_groups": []}, scaler={"scale": 1.0}, epoch=3)
    assert "module.extrinsics_encoder.weight" in ckpt["predictor"]
    path = tmp_path / "vjepa2-ac-tiny.pt"
    torch.save(ckpt, path)
    enc2, pred2 = load_official_ac(path, ENC, AC)
    with torch.no_grad():
        torch.testing.assert_close(enc2(_clip()), enc(_clip()), rtol=0, atol=0)
        torch.testing.assert_close(pred2(*_ac_inputs()), pred(*_ac_inputs()), rtol=0, atol=0)


def test_released_encoder_layout_backbone_prefix(tmp_path):
    torch.manual_seed(0)
    enc, other = VisionTransformer(ENC).eval(), VisionTransformer(ENC).eval()
    ckpt = {
        "encoder": {"module.backbone." + k: v for k, v in other.state_dict().items()},
        "target_encoder": {"module.backbone." + k: v for k, v in enc.state_dict().items()},
        "predictor": {"module.backbone.mask_tokens.0": torch.zeros(1)},
        "opt": {},
        "epoch": 10,
    }
    torch.save(ckpt, tmp_path / "vitt.pt")
    loaded = load_official_encoder(tmp_path / "vitt.pt", ENC, key="target_encoder")
    with torch.no_grad():
        torch.testing.assert_close(loaded(_clip()), enc(_clip()), rtol=0, atol=0)
        alt = load_official_encoder(ckpt, ENC)  # default: encoder, as the reference hub
        torch.testing.assert_close(alt(_clip()), other(_clip()), rtol=0, atol=0)


def test_missing_and_renamed_keys_are_named():
    torch.manual_seed(0)
    ckpt = to_official_layout(VisionTransformer(ENC), ACPredictor(AC))
    w = ckpt["predictor"].pop("module.predictor_blocks.1.attn.qkv.weight")
    ckpt["predictor"]["module.predictor_blocks.1.attn.qkv_weight"] = w
    with pytest.raises(ValueError) as e:
        load_official_ac(ckpt, ENC, AC)
    msg = str(e.value)
    assert "missing keys (1)" in msg and "predictor_blocks.1.attn.qkv.weight" in msg
    assert "unexpected keys (1)" in msg and "predictor_blocks.1.attn.qkv_weight" in msg
    # strict: the extrinsics encoder must be there too
    ckpt = to_official_layout(VisionTransformer(ENC), ACPredictor(AC))
    del ckpt["predictor"]["module.extrinsics_encoder.bias"]
    with pytest.raises(ValueError, match="extrinsics_encoder.bias"):
        load_official_ac(ckpt, ENC, AC)
    # a config mismatch is a shape error naming the key
    ckpt = to_official_layout(VisionTransformer(ENC), None)
    with pytest.raises(ValueError, match="patch_embed.proj.weight: checkpoint"):
        load_official_encoder(ckpt, dataclasses.replace(ENC, dim=96))
    with pytest.raises(ValueError, match="no entry .encoder.*top-level keys"):
        load_official_encoder({"model": {}}, ENC)


class Evil:
    """An arbitrary pickled object: weights_only loading must refuse it."""


def test_weights_only_rejects_pickled_objects(tmp_path):
    torch.save({"encoder": {}, "obj": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(Exception, match="(?i)weights_only|unsupported"):
        load_official_encoder(tmp_path / "evil.pt", ENC)
