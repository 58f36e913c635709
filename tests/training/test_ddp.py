"""DDP with 2 gloo processes (torchrun) completes and matches a single-process run."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY_AC, synthetic_feature_episodes

from vjepa2_world_model.training import common as C

HERE = Path(__file__).parent


def train_once(kind: str, run_dir: str, steps: int):
    """Same config and data in every process; returns (summary, trained module)."""
    torch.set_num_threads(1)
    ov = [
        f"run_dir={run_dir}",
        f"train.steps={steps}",
        "train.batch_size=8",
        "train.progress=false",
        "train.eval_every=1000",
        "train.ckpt_every=1000",
        "optimizer.lr=1e-3",
        "optimizer.warmup_steps=1",
        "optimizer.decay_steps=1",
        "threads=1",
        "export.path=null",
    ]
    if kind == "ac":
        from vjepa2_world_model.data.clips import FeatureClips
        from vjepa2_world_model.training import train_ac as T

        cfg = C.load_config(None, ov, T.DEFAULTS)
        cfg["model"] = copy.deepcopy(TINY_AC)
        eps = synthetic_feature_episodes()
        data = (FeatureClips(eps, 3), None)
        s = T.train(cfg, data)
        return s, s["model"]
    from test_train_encoder import TINY, _frames

    from vjepa2_world_model.training import train_encoder as E

    cfg = C.load_config(None, ov + ["ema=0.9"], E.DEFAULTS)
    cfg["model"] = copy.deepcopy(TINY)
    s = E.train(cfg, (E.FrameData(_frames(), 1), None))
    return s, s["encoder"]


@pytest.mark.parametrize("kind", ["ac", "encoder"])
def test_ddp_two_processes_match_single_process(tmp_path, kind):
    steps = 2
    out = tmp_path / "ddp.pt"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(HERE.parents[1]))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(HERE / "ddp_worker.py"),
        kind,
        str(tmp_path / "ddp_run"),
        str(out),
        str(steps),
    ]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert "world 2" in (tmp_path / "ddp_run" / "log.txt").read_text()
    ddp = torch.load(out, weights_only=True)
    single, model = train_once(kind, str(tmp_path / "single"), steps)
    torch.testing.assert_close(
        ddp["losses"], torch.tensor(single["losses"], dtype=torch.float64), rtol=1e-5, atol=1e-6
    )
    moved = 0.0
    init = train_once(kind, str(tmp_path / "zero"), 0)[1].state_dict()
    for k, v in model.state_dict().items():
        torch.testing.assert_close(ddp["state"][k], v, rtol=1e-4, atol=1e-6)
        moved = max(moved, float((v - init[k]).abs().max()))
    assert moved > 1e-4  # the step really changed the weights
