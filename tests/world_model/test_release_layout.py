"""Released checkpoints at tiny sizes in the exact released layout (key prefixes, top-level
entries, the unused position tables, 10 mask tokens) -> `vjepa2 convert` -> the node's
loader; and the named errors for broken files (NaN weights, truncation, wrong shapes)."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import torch

from vjepa2_planner_node.params import ParamError, load_encoder_and_predictor
from vjepa2_world_model import checkpoints as ck
from vjepa2_world_model.cli import main as cli
from vjepa2_world_model.models.ac_predictor import AC_CONFIGS, ACPredictor
from vjepa2_world_model.models.mask_predictor import MASK_PREDICTOR_CONFIGS, MaskPredictor
from vjepa2_world_model.models.vit_encoder import ENCODER_CONFIGS, VisionTransformer

# a tiny encoder with the eval transform's crop ratio, to see the AC path replace it
ENC = dataclasses.replace(ENCODER_CONFIGS["vit_tiny"], depth=2, crop_ratio=256 / 224)
AC = dataclasses.replace(AC_CONFIGS["ac_tiny"], depth=2)
MP = dataclasses.replace(MASK_PREDICTOR_CONFIGS["mp_tiny"], depth=2, num_mask_tokens=10)
SIZES = [
    "--encoder-config",
    "vit_tiny",
    "--encoder-set",
    "depth=2",
    "--encoder-set",
    f"crop_ratio={256 / 224}",
    "--predictor-config",
    "ac_tiny",
    "--predictor-set",
    "depth=2",
    "--mask-predictor-config",
    "mp_tiny",
    "--mask-predictor-set",
    "depth=2",
]


def _opt_state(sd: dict) -> dict:
    return {
        "state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(2)}},
        "param_groups": [{"lr": 1e-4, "params": list(range(len(sd)))}],
    }


def _released_ac(path):
    """vjepa2-ac-vitg.pt layout: ``module.`` prefixes, encoder (+ unused pos_embed),
    target_encoder, predictor (with the unused extrinsics encoder), opt, scaler, epoch."""
    torch.manual_seed(0)
    enc, ema, pred = (
        VisionTransformer(ENC).eval(),
        VisionTransformer(ENC).eval(),
        ACPredictor(AC).eval(),
    )
    pos = torch.randn(1, ENC.tokens_per_tubelet * 8, ENC.dim)
    ckpt = {
        "encoder": {
            **{"module." + k: v for k, v in enc.state_dict().items()},
            "module.pos_embed": pos,
        },
        "target_encoder": {
            **{"module." + k: v for k, v in ema.state_dict().items()},
            "module.pos_embed": pos,
        },
        "predictor": {"module." + k: v for k, v in pred.state_dict().items()},
        "opt": _opt_state(pred.state_dict()),
        "scaler": {"scale": 65536.0, "_growth_tracker": 3},
        "epoch": 315,
        "loss": 0.41,
        "batch_size": 256,
        "world_size": 32,
        "lr": 4.25e-4,
    }
    assert "module.extrinsics_encoder.weight" in ckpt["predictor"]
    torch.save(ckpt, path)
    return enc, ema, pred


def _released_encoder(path):
    """vitg.pt layout: ``module.backbone.`` prefixes, encoder / target_encoder with the
    unused pos_embed, mask predictor with 10 mask tokens and an unused predictor_pos_embed."""
    torch.manual_seed(1)
    enc, ema, mp = (
        VisionTransformer(ENC).eval(),
        VisionTransformer(ENC).eval(),
        MaskPredictor(MP).eval(),
    )
    p = "module.backbone."
    ckpt = {
        "encoder": {
            **{p + k: v for k, v in enc.state_dict().items()},
            p + "pos_embed": torch.randn(1, 512, ENC.dim),
        },
        "target_encoder": {
            **{p + k: v for k, v in ema.state_dict().items()},
            p + "pos_embed": torch.randn(1, 512, ENC.dim),
        },
        "predictor": {
            **{p + k: v for k, v in mp.state_dict().items()},
            p + "predictor_pos_embed": torch.randn(1, 512, MP.dim),
        },
        "opt": _opt_state(enc.state_dict()),
        "scaler": {"scale": 1.0},
        "epoch": 800,
    }
    assert sum(k.startswith(p + "mask_tokens.") for k in ckpt["predictor"]) == 10
    torch.save(ckpt, path)
    return enc, ema, mp


def _img():
    return torch.randint(
        0, 256, (1, 160, 200, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(2)
    )


def _same_ac(enc, pred, enc2, pred2) -> None:
    """Same weights; enc2 runs with the AC notebook's transform (crop ratio 1.0)."""
    assert enc2.cfg.crop_ratio == 1.0
    ref = VisionTransformer(dataclasses.replace(ENC, crop_ratio=1.0)).eval()
    ref.load_state_dict(enc.state_dict())
    with torch.no_grad():
        z, z2 = ref.encode_images(_img()), enc2.encode_images(_img())
        a, s = torch.randn(1, 1, 7), torch.randn(1, 1, 7)
        assert torch.equal(z, z2)
        assert torch.equal(pred(z[:, None], a, s), pred2(z2[:, None], a, s))
        assert not torch.equal(z, enc.encode_images(_img()))  # the transform matters


def test_convert_ac_release_then_node_loader(tmp_path, caplog, capsys):
    enc, _, pred = _released_ac(tmp_path / "vjepa2-ac-vitt.pt")
    out = tmp_path / "ckpt"
    with caplog.at_level(logging.INFO):
        assert cli(["convert", str(tmp_path / "vjepa2-ac-vitt.pt"), str(out), *SIZES]) == 0
    assert "known-unused" in caplog.text and "pos_embed" in caplog.text
    assert "transform ac_notebook" in capsys.readouterr().out
    meta = ck.read_metadata(out / "encoder.safetensors")
    assert meta["transform"] == "ac_notebook" and meta["entry"] == "encoder"
    assert meta["source"] == "vjepa2-ac-vitt.pt" and float(meta["crop_ratio"]) == 1.0
    assert ck.read_metadata(out / "ac_predictor.safetensors")["transform"] == "ac_notebook"
    enc2, pred2 = load_encoder_and_predictor(out, "cpu")  # what checkpoint:= does
    _same_ac(enc, pred, enc2, pred2)


def test_node_loader_takes_the_released_file(tmp_path, monkeypatch):
    enc, _, pred = _released_ac(tmp_path / "vjepa2-ac-vitt.pt")
    # the node's default sizes are ViT-g; point them at the tiny configs for this test
    monkeypatch.setitem(ENCODER_CONFIGS, "vit_giant", ENC)
    monkeypatch.setitem(AC_CONFIGS, "ac_vit_giant", AC)
    enc2, pred2 = load_encoder_and_predictor(tmp_path / "vjepa2-ac-vitt.pt", "cpu")
    _same_ac(enc, pred, enc2, pred2)


def test_convert_encoder_release_with_10_mask_tokens(tmp_path, caplog):
    enc, ema, mp = _released_encoder(tmp_path / "vitt.pt")
    out = tmp_path / "enc"
    with caplog.at_level(logging.INFO):
        assert (
            cli(["convert", str(tmp_path / "vitt.pt"), str(out), "--mask-predictor", *SIZES]) == 0
        )
    assert "predictor_pos_embed" in caplog.text and "10 mask tokens" in caplog.text
    enc2 = ck.load_model(out / "encoder.safetensors")
    mp2 = ck.load_model(out / "mask_predictor.safetensors")
    assert ck.read_metadata(out / "encoder.safetensors")["transform"] == "eval"
    assert enc2.cfg.crop_ratio == 256 / 224 and mp2.cfg.num_mask_tokens == 10
    with torch.no_grad():
        assert torch.equal(enc2.encode_images(_img()), enc.encode_images(_img()))  # `encoder`
        ctx = torch.randn(1, 5, MP.enc_dim)
        ci, ti = torch.arange(5)[None], torch.arange(5, 9)[None]
        assert torch.equal(mp2(ctx, ci, ti, mask_index=9), mp(ctx, ci, ti, mask_index=9))
    # the EMA copy on request
    assert (
        cli(
            [
                "convert",
                str(tmp_path / "vitt.pt"),
                str(tmp_path / "ema"),
                "--entry",
                "target_encoder",
                *SIZES,
            ]
        )
        == 0
    )
    with torch.no_grad():
        z = ck.load_model(tmp_path / "ema" / "encoder.safetensors").encode_images(_img())
        assert torch.equal(z, ema.encode_images(_img()))


def test_only_the_known_unused_keys_are_accepted(tmp_path):
    _released_ac(tmp_path / "r.pt")
    ckpt = torch.load(tmp_path / "r.pt", weights_only=True)
    ckpt["encoder"]["module.cls_token"] = torch.zeros(1, 1, ENC.dim)
    with pytest.raises(ValueError, match=r"unexpected keys \(1\):\n\s+cls_token"):
        ck.load_official_ac(ckpt, ENC, AC)
    ckpt = torch.load(tmp_path / "r.pt", weights_only=True)
    ckpt["predictor"]["module.pos_embed"] = torch.zeros(1)  # unused only for encoders
    with pytest.raises(ValueError, match="unexpected keys.*\n.*pos_embed"):
        ck.load_official_ac(ckpt, ENC, AC)
    ckpt = torch.load(tmp_path / "r.pt", weights_only=True)
    del ckpt["encoder"]["module.blocks.1.mlp.fc2.bias"]
    with pytest.raises(ValueError, match=r"missing keys \(1\):\n\s+blocks.1.mlp.fc2.bias"):
        ck.load_official_ac(ckpt, ENC, AC)
    ckpt = torch.load(tmp_path / "r.pt", weights_only=True)
    with pytest.raises(
        ValueError,
        match=r"no entry 'ema'.*\['encoder', 'opt', 'predictor', "
        r"'scaler', 'target_encoder'\]",
    ):
        ck.load_official_ac(ckpt, ENC, AC, encoder_key="ema")
    with pytest.raises(ValueError, match="no entry 'encoder'"):
        ck.load_official_encoder({"target_encoder": ckpt["target_encoder"]}, ENC)


def test_broken_files_give_named_errors(tmp_path, capsys):
    enc, _, pred = _released_ac(tmp_path / "r.pt")
    # NaN weights: named, in the released file and in the own format
    ckpt = torch.load(tmp_path / "r.pt", weights_only=True)
    ckpt["predictor"]["module.predictor_blocks.0.attn.qkv.weight"][0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite.*predictor_blocks.0.attn.qkv.weight"):
        ck.load_official_ac(ckpt, ENC, AC)
    bad = ACPredictor(AC)
    with torch.no_grad():
        bad.predictor_norm.bias[3] = float("inf")
    ck.save_model(bad, tmp_path / "inf.safetensors")
    with pytest.raises(ValueError, match="non-finite.*predictor_norm.bias"):
        ck.load_model(tmp_path / "inf.safetensors")
    # truncated safetensors: named, through the node's loader a ParamError on checkpoint
    out = tmp_path / "ckpt"
    out.mkdir()
    ck.save_model(enc, out / "encoder.safetensors")
    p = ck.save_model(pred, out / "ac_predictor.safetensors")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        ParamError, match="parameter 'checkpoint'.*ac_predictor.safetensors.*truncated or corrupt"
    ):
        load_encoder_and_predictor(out, "cpu")
    p.write_bytes(data[:40])  # even the header is cut
    with pytest.raises(ValueError, match="truncated or corrupt"):
        ck.load_model(p)
    # wrong tensor shape in an own-format file: named key and both shapes
    small = ACPredictor(dataclasses.replace(AC, depth=2))
    sd = dict(small.state_dict())
    sd["predictor_proj.weight"] = torch.zeros(3, 3)
    from safetensors.torch import save_file

    meta = ck.read_metadata(ck.save_model(small, tmp_path / "ok.safetensors"))
    save_file(sd, str(tmp_path / "shape.safetensors"), metadata=meta)
    with pytest.raises(ValueError, match=r"predictor_proj.weight: checkpoint \(3, 3\) vs model"):
        ck.load_model(tmp_path / "shape.safetensors")
    # truncated .pt through the CLI: exit 1 and one named line, no traceback
    raw = (tmp_path / "r.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(raw[: len(raw) // 3])
    capsys.readouterr()
    assert cli(["convert", str(tmp_path / "cut.pt"), str(tmp_path / "o"), *SIZES]) == 1
    err = capsys.readouterr().err
    assert "cut.pt: cannot read the checkpoint (truncated or corrupt?)" in err
    assert "Traceback" not in err
