"""V-JEPA pretraining loop: loss decreases, exact resume, EMA target, masks, export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vjepa2_world_model.training import common as C
from vjepa2_world_model.training import train_encoder as E

TINY = {
    "encoder": "vit_tiny",
    "encoder_overrides": {"img_size": 64, "dim": 32, "depth": 1, "heads": 2, "mlp_hidden": 64},
    "predictor": {"dim": 32, "depth": 1, "heads": 2},
}


def _frames(n_eps=4, length=6, seed=0):
    """Smooth random images (a moving blob), already 'normalised', (T,3,64,64) float16."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    out = []
    for _ in range(n_eps):
        c = rng.uniform(0.2, 0.8, 2)
        v = rng.normal(0, 0.05, 2)
        frames = []
        for t in range(length):
            cx, cy = c + t * v
            blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.02)
            img = np.stack([blob, 1 - blob, 0.5 * blob + 0.2 * xx])
            frames.append(2 * img - 1)
        out.append(np.asarray(frames, dtype=np.float16))
    return out


def _cfg(run_dir, steps=20, **kw):
    ov = [
        f"run_dir={run_dir}",
        f"train.steps={steps}",
        "train.batch_size=8",
        "train.progress=false",
        "train.eval_every=10",
        "train.ckpt_every=5",
        "optimizer.lr=2e-3",
        "optimizer.warmup_steps=2",
        "optimizer.decay_steps=4",
        "threads=1",
        "ema=0.9",
        f"export.path={run_dir}/encoder.safetensors",
        "data.val_batches=1",
    ]
    cfg = C.load_config(None, ov, E.DEFAULTS)
    cfg["model"] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in TINY.items()}
    for k, v in kw.items():
        C.set_dotted(cfg, k, v)
    return cfg


@pytest.fixture
def frame_data():
    arrs = _frames()
    return E.FrameData(arrs[:3], 1), E.FrameData(arrs[3:], 1)


def test_loss_decreases_ema_and_export(tmp_path, frame_data):
    from vjepa2_world_model.checkpoints import load_model

    s = E.train(_cfg(tmp_path / "run", steps=40), frame_data)
    L = s["losses"]
    assert len(L) == 40 and all(np.isfinite(L))
    assert np.mean(L[-8:]) < 0.8 * np.mean(L[:3])
    # the target is an EMA of the encoder: close to it, but not equal
    diffs = [
        float((a.detach() - b).abs().max())
        for a, b in zip(s["encoder"].parameters(), s["target"].parameters(), strict=True)
    ]
    assert max(diffs) > 0
    assert not any(p.requires_grad for p in s["target"].parameters())
    enc = load_model(tmp_path / "run" / "encoder.safetensors")
    clip = frame_data[0].get(np.array([0, 1]))
    torch.testing.assert_close(enc(clip), s["target"].eval()(clip))
    assert (tmp_path / "run" / "loss.png").exists()


def test_resume_reproduces_uninterrupted_run(tmp_path, frame_data):
    full = E.train(_cfg(tmp_path / "a", steps=12), frame_data)["losses"]
    first = E.train(_cfg(tmp_path / "b", steps=12, **{"train.max_minutes": 1e-9}), frame_data)
    assert first["stopped"] == "time limit" and first["step"] == 1
    rest = E.train(_cfg(tmp_path / "b", steps=12), frame_data)["losses"]
    assert first["losses"] + rest == full


def test_masks_are_deterministic_and_disjoint():
    from vjepa2_world_model.models.masks import MultiBlockMaskGenerator

    gen = MultiBlockMaskGenerator(grid=(1, 8, 8), num_blocks=8, scale=0.15)
    c1, t1 = E.sample_masks(gen, 6, seed=3, step=7, g=0)
    c2, t2 = E.sample_masks(gen, 6, seed=3, step=7, g=0)
    assert torch.equal(c1, c2) and torch.equal(t1, t2)
    c3, _ = E.sample_masks(gen, 6, seed=3, step=8, g=0)
    assert not torch.equal(c1, c3)
    assert c1.shape[0] == 6 and c1.shape[1] > 0 and t1.shape[1] > 0
    for c, t in zip(c1, t1, strict=True):
        assert not set(c.tolist()) & set(t.tolist())
        assert c.max() < 64 and t.max() < 64
