"""`vjepa2 train-readout` on a tiny synthetic feature cache: the head learns the state."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from vjepa2_world_model.checkpoints import load_model, read_metadata
from vjepa2_world_model.models.readout import StateReadout
from vjepa2_world_model.training.train_readout import main


def _write_cache(root: Path, n_eps: int = 16, length: int = 32, seed: int = 0) -> None:
    """Episodes whose 16x32 features encode xy (a bump moving over the tokens), z and the
    gripper (channel directions), plus noise; roll sits at +-pi like the real hand's."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(np.linspace(0, 1, 4), np.linspace(0, 1, 4)), -1).reshape(16, 2)
    W = rng.normal(0, 1, (3, 32))
    root.mkdir(parents=True)
    for e in range(n_eps):
        st = np.zeros((length, 7))
        st[:, :3] = rng.uniform([0.35, -0.2, 0.05], [0.65, 0.2, 0.35], (length, 3))
        st[:, 3] = np.where(rng.random(length) < 0.5, np.pi, -np.pi + 1e-3)
        st[:, 6] = rng.random(length) > 0.5
        uv = (st[:, None, :2] - [0.35, -0.2]) / [0.3, 0.4]
        bump = np.exp(-((grid[None] - uv) ** 2).sum(-1) / 0.05)  # (T, 16)
        # directions, not scales: the head's layer norm removes each token's scale
        f = bump[..., None] * W[0] + st[:, None, 6:7] * W[1] + 4 * st[:, None, 2:3] * W[2]
        f = f + rng.normal(0, 0.05, f.shape)
        np.savez(root / f"ep_{e:05d}.npz", features=f.astype(np.float16), states=st)


def test_train_readout_learns_the_state(tmp_path: Path, capsys) -> None:
    cache = tmp_path / "features" / "abc"
    _write_cache(cache)
    out = tmp_path / "readout.safetensors"
    assert (
        main(
            [
                "--cache-dir",
                str(cache),
                "--out",
                str(out),
                "--steps",
                "600",
                "--batch",
                "32",
                "--lr",
                "1e-2",
                "--val-frac",
                "0.125",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    model = load_model(out)
    assert isinstance(model, StateReadout)
    figures = json.loads(read_metadata(out)["readout_figures"])
    assert len(figures["val_episodes"]) == 2
    # held-out episodes: far better than predicting the mean (mean abs deviation of the
    # uniform xyz: 7.5 / 10 / 7.5 cm, i.e. 8.3 cm)
    assert figures["val"]["xyz_cm"] < 8.3 / 3, figures
    assert figures["val"]["gripper"] < 0.15, figures
    assert figures["val"]["angle_deg"] < 5.0, figures  # roll +pi / -pi is one angle
    # the saved head reproduces the printed figures on a held-out frame's state
    with np.load(cache / f"{figures['val_episodes'][0]}.npz") as z:
        f, s = torch.from_numpy(z["features"][:4]).float(), torch.from_numpy(z["states"][:4])
    pred = model(f)
    assert pred.shape == (4, 7) and torch.isfinite(pred).all()
    assert (pred[:, :3] - s[:, :3].float()).abs().mean() < 0.05
    assert math.isfinite(figures["minutes"]) and "wrote" in capsys.readouterr().out
