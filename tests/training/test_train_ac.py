"""AC predictor training: loss decreases, exact resume, NaN stop, export loads, schedule."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import TINY_AC

from vjepa2_world_model.training import common as C
from vjepa2_world_model.training import train_ac as T


def _cfg(run_dir, steps=30, **kw):
    ov = [
        f"run_dir={run_dir}",
        f"train.steps={steps}",
        "train.batch_size=8",
        "train.progress=false",
        "train.eval_every=10",
        "train.ckpt_every=5",
        "optimizer.lr=3e-3",
        "optimizer.warmup_steps=3",
        "optimizer.decay_steps=5",
        "threads=1",
        f"export.path={run_dir}/ac.safetensors",
    ]
    cfg = C.load_config(None, ov, T.DEFAULTS)
    cfg["model"] = copy.deepcopy(TINY_AC)
    for k, v in kw.items():
        C.set_dotted(cfg, k, v)
    return cfg


def test_loss_decreases_and_exports(tmp_path, feature_data):
    from vjepa2_world_model.checkpoints import load_model

    s = T.train(_cfg(tmp_path / "run", steps=60), feature_data)
    L = s["losses"]
    assert len(L) == 60
    assert sum(L[-10:]) / 10 < 0.7 * sum(L[:5]) / 5
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000
    hist = C.History(tmp_path / "run").rows
    assert any("val_loss" in r for r in hist)
    m = load_model(tmp_path / "run" / "ac.safetensors")
    z = torch.randn(2, 3, 4, 16)
    a, st = torch.randn(2, 3, 7), torch.randn(2, 3, 7)
    torch.testing.assert_close(m(z, a, st), s["model"].eval()(z, a, st))


def test_resume_reproduces_uninterrupted_run(tmp_path, feature_data):
    full = T.train(_cfg(tmp_path / "a", steps=20), feature_data)["losses"]
    # interrupted after the first step (time limit saves a checkpoint), then resumed
    first = T.train(_cfg(tmp_path / "b", steps=20, **{"train.max_minutes": 1e-9}), feature_data)
    assert first["stopped"] == "time limit" and first["step"] == 1
    rest = T.train(_cfg(tmp_path / "b", steps=20), feature_data)
    assert rest["step"] == 20 and len(rest["losses"]) == 19
    assert first["losses"] + rest["losses"] == full
    # history was kept consistent across the restart
    steps = [r["step"] for r in C.History(tmp_path / "b").rows if "loss" in r]
    assert steps == sorted(steps)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, feature_data, monkeypatch):
    T.train(_cfg(tmp_path / "run", steps=10), feature_data)
    ckpt = tmp_path / "run" / "ckpt_last.pt"
    before = C.load_checkpoint(ckpt)
    assert before["step"] == 10
    real_forward = T.ACLoss.forward
    calls = {"n": 0}

    def diverging(self, z, a, s):  # a diverged model: the loss turns NaN on the 3rd step
        calls["n"] += 1
        total, tf, roll = real_forward(self, z, a, s)
        return (total * float("nan") if calls["n"] >= 3 else total), tf, roll

    monkeypatch.setattr(T.ACLoss, "forward", diverging)
    with pytest.raises(C.NaNLossError, match="diverged"):
        T.train(_cfg(tmp_path / "run", steps=30, **{"train.ckpt_every": 1}), feature_data)
    after = C.load_checkpoint(ckpt)
    assert after["step"] == 12  # the two good steps after the resume were saved, not the NaN
    assert all(torch.isfinite(v).all() for v in after["model"].values())
    assert "diverged" in (tmp_path / "run" / "log.txt").read_text()


def test_schedule_and_param_groups():
    s = C.WarmupConstantDecay(100, 1e-3, 1e-4, 0.0, 10, 20)
    assert s(0) == pytest.approx(1e-4) and s(10) == pytest.approx(1e-3)
    assert s(50) == pytest.approx(1e-3) and s(90) == pytest.approx(5e-4)
    assert s(100) == pytest.approx(0.0)
    m = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    g = C.param_groups(m, 0.04)
    assert [len(x["params"]) for x in g] == [1, 3]
    assert g[0]["weight_decay"] == 0.04 and g[1]["weight_decay"] == 0.0


def test_config_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  steps: 5\n  batch_size: 4\n")
    cfg = C.load_config(p, ["train.steps=7", "optimizer.lr=1e-3", "data.clip_len=4"], T.DEFAULTS)
    assert cfg["train"]["steps"] == 7 and cfg["train"]["batch_size"] == 4
    assert cfg["optimizer"]["lr"] == 1e-3 and cfg["data"]["clip_len"] == 4
    assert cfg["train"]["rollout_steps"] == 2  # default kept
    with pytest.raises(ValueError, match="key=value"):
        C.load_config(None, ["oops"], T.DEFAULTS)


def test_pca_init_starts_near_copy_last(feature_data):
    """With pca_init a fresh predictor reproduces its input frame far better than the
    default init (what lets short CPU runs beat the copy-last baseline)."""
    train, _ = feature_data
    z, a, s = train.get(torch.arange(8).numpy())
    z_ln = T.layer_norm(z)

    def copy_err(pred):
        with torch.no_grad():
            return float((T.layer_norm(pred(z_ln, a, s)) - z_ln).abs().mean())

    torch.manual_seed(0)
    cfg = copy.deepcopy(TINY_AC)
    cfg["overrides"]["dim"] = 8  # a real bottleneck: 16-d features through 8 dims
    p = T.build_predictor(cfg, 16)
    before = copy_err(p)
    ev = T.pca_init_(p, z[:, 0].reshape(-1, 16))
    after = copy_err(p)
    assert 0.9 < ev <= 1.0 + 1e-6
    assert after < 0.5 * before


def test_init_from_with_residual_zero_proj_starts_at_copy_last(tmp_path, feature_data):
    """init_from copies a trained predictor; residual + zero_proj then predicts exactly the
    input frame, and a file with other shapes is refused with the mismatching keys named."""
    from vjepa2_world_model.checkpoints import save_model

    train, _ = feature_data
    torch.manual_seed(0)
    src = T.build_predictor(copy.deepcopy(TINY_AC), 16)
    save_model(src, tmp_path / "src.safetensors")
    cfg = copy.deepcopy(TINY_AC)
    cfg["overrides"]["residual"] = True
    dst = T.build_predictor(cfg, 16)
    T.init_from_(dst, tmp_path / "src.safetensors")
    for k, v in src.state_dict().items():
        torch.testing.assert_close(dst.state_dict()[k], v)
    s = T.train(
        _cfg(
            tmp_path / "run",
            steps=1,
            **{
                "model.overrides.residual": True,
                "model.init_from": str(tmp_path / "src.safetensors"),
                "model.zero_proj": True,
                "optimizer.lr": 1e-9,
                "optimizer.start_lr": 1e-9,
            },
        ),
        feature_data,
    )
    z, a, st = train.get(torch.arange(4).numpy())
    z_ln = T.layer_norm(z)
    with torch.no_grad():
        torch.testing.assert_close(s["model"].eval()(z_ln, a, st), z_ln, atol=1e-4, rtol=0)
    cfg["overrides"]["dim"] = 16
    wider = T.build_predictor(cfg, 16)
    with pytest.raises(ValueError, match="(?s)init_from .*shape mismatch.*predictor_embed.weight"):
        T.init_from_(wider, tmp_path / "src.safetensors")


def test_gripper_repeat_lists_gripper_clips_more_often():
    import numpy as np

    from vjepa2_world_model.data.clips import FeatureClips

    T = 10
    states = np.zeros((T, 7))
    states[:, 0] = np.linspace(0.4, 0.5, T)
    states[6:, 6] = 1.0  # the hand closes between frames 5 and 6
    eps = {"ep": (np.zeros((T, 4, 16), np.float16), states)}
    base = FeatureClips(eps, 3)
    rep = FeatureClips(eps, 3, gripper_repeat=3)
    assert len(base) == T - 2
    events = [s for _, s in base.index if s <= 5 < s + 2]  # clips whose actions include t=5
    assert events == [4, 5]
    assert len(rep) == len(base) + 2 * len(events)
    assert rep.index.count((0, 4)) == 3 and rep.index.count((0, 3)) == 1
    with pytest.raises(ValueError, match="gripper_repeat"):
        FeatureClips(eps, 3, gripper_repeat=0)


def test_change_weight_emphasises_tokens_that_change():
    torch.manual_seed(0)
    loss = T.ACLoss(torch.nn.Identity(), change_weight=4.0)
    plain = T.ACLoss(torch.nn.Identity())
    before = torch.zeros(2, 8, 16)
    target = torch.zeros(2, 8, 16)
    target[:, 3] = 1.0  # only token 3 changes between the frames
    err_moving = target.clone()
    err_moving[:, 3] += 0.5
    err_still = target.clone()
    err_still[:, 5] += 0.5
    # the same error costs more on the changing token than on a still one
    assert loss._l1(err_moving, target, before) > 2 * loss._l1(err_still, target, before)
    # without the option both cost the plain mean L1
    assert plain._l1(err_moving, target, before) == plain._l1(err_still, target, before)
    assert torch.isclose(plain._l1(err_moving, target, before), torch.tensor(0.5 / 8))
    # weights average to 1: a uniform error costs the same with and without the option
    uniform = target + 0.25
    assert torch.isclose(loss._l1(uniform, target, before), plain._l1(uniform, target, before))
    with pytest.raises(ValueError, match="change_weight"):
        T.ACLoss(torch.nn.Identity(), change_weight=-1.0)


def test_shipped_configs_export_into_the_run_dir_not_the_shipped_weights(tmp_path):
    from pathlib import Path

    from vjepa2_world_model.training import train_encoder as E

    root = Path(__file__).resolve().parents[2]
    for mod, config, name in (
        (T, "train_ac_tiny.yaml", "ac_predictor.safetensors"),
        (E, "train_encoder_tiny.yaml", "encoder.safetensors"),
    ):
        cfg = C.load_config(root / "configs" / config, [f"run_dir={tmp_path}"], mod.DEFAULTS)
        assert mod.export_path(cfg) == tmp_path / name, config
        assert mod.export_path(C.load_config(None, [f"run_dir={tmp_path}"], mod.DEFAULTS)) == (
            tmp_path / name
        )
    off = C.load_config(None, ['export.path=""'], T.DEFAULTS)
    assert T.export_path(off) is None
