"""Tiny models and synthetic data for the training tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

TINY_AC = {
    "config": "ac_tiny",
    "overrides": {"enc_dim": 16, "dim": 32, "depth": 1, "heads": 2, "grid_size": [2, 2]},
}


def synthetic_feature_episodes(n_eps: int = 8, length: int = 10, seed: int = 0) -> dict:
    """Episodes whose 2x2x16 features are a fixed function of the state (learnable)."""
    rng = np.random.default_rng(seed)
    W = rng.normal(0, 1, (3, 4 * 16))
    out = {}
    for e in range(n_eps):
        st = np.zeros((length, 7))
        st[:, :3] = 0.4 + np.cumsum(rng.uniform(-0.05, 0.05, (length, 3)), axis=0)
        st[:, 3] = np.pi
        f = np.tanh(4 * (st[:, :3] - 0.4) @ W).reshape(length, 4, 16)
        f = f + rng.normal(0, 0.01, f.shape)
        out[f"ep_{e:05d}"] = (f.astype(np.float16), st)
    return out


@pytest.fixture
def feature_data():
    from vjepa2_world_model.data.clips import FeatureClips

    eps = synthetic_feature_episodes()
    names = sorted(eps)
    train = FeatureClips({n: eps[n] for n in names[:6]}, 3)
    val = FeatureClips({n: eps[n] for n in names[6:]}, 3)
    return train, val
