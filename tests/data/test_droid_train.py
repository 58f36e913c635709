"""Raw DROID end to end: synthetic episodes written in DROID's layout (trajectory.h5 keys,
metadata JSON, one MP4 per camera, 15 Hz) -> `vjepa2 cache-features` (4 fps) ->
`vjepa2 train-ac` for a few steps -> an AC predictor file that loads."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import h5py
import numpy as np
import torch

from vjepa2_world_model.checkpoints import build_model, load_model, save_model
from vjepa2_world_model.cli import main as cli
from vjepa2_world_model.data.feature_cache import load_cache

N15 = 45  # 3 s at 15 Hz -> 12 frames at 4 fps
W, H = 80, 64  # non-square, as DROID's cameras (the encoder centre-crops)


def _write_droid_episode(root: Path, k: int) -> Path:
    """One episode as DROID stores it: <lab>/success/<date>/<name>/ with trajectory.h5,
    metadata_<uuid>.json naming the MP4s, recordings/MP4/<serial>.mp4 per camera."""
    name = f"Fri_Jan__5_10:0{k}:00_2024"
    ep = root / "LAB" / "success" / "2024-01-05" / name
    (ep / "recordings" / "MP4").mkdir(parents=True)
    rng = np.random.default_rng(k)
    xyz = np.array([0.5, 0.0, 0.3]) + np.cumsum(rng.normal(0, 0.004, (N15, 3)), axis=0)
    euler = np.tile([np.pi, 0.0, 0.0], (N15, 1)) + rng.normal(0, 0.01, (N15, 3))
    grip = (np.arange(N15) > N15 // 2).astype(np.float64) * 0.8
    with h5py.File(ep / "trajectory.h5", "w") as h:
        rs = h.create_group("observation/robot_state")
        rs["cartesian_position"] = np.concatenate([xyz, euler], 1)
        rs["gripper_position"] = grip
        rs["joint_positions"] = np.zeros((N15, 7))
        ext = h.create_group("observation/camera_extrinsics")
        for serial in ("2345678_left", "2345678_right", "3456789_left"):
            ext[serial] = np.zeros((N15, 6))
        h.create_group("observation/timestamp/robot_state")["robot_timestamp_seconds"] = (
            np.arange(N15) // 15
        )
        act = h.create_group("action")
        act["cartesian_position"] = np.concatenate([xyz, euler], 1)
        act["gripper_position"] = grip
    for serial in ("2345678", "3456789", "4567890"):  # ext1, ext2, wrist
        vw = cv2.VideoWriter(
            str(ep / "recordings" / "MP4" / f"{serial}.mp4"),
            cv2.VideoWriter_fourcc(*"mp4v"),
            15.0,
            (W, H),
        )
        assert vw.isOpened()
        for t in range(N15):  # a bright square that moves with the hand
            img = np.full((H, W, 3), 40, np.uint8)
            cx = int(W / 2 + (xyz[t, 0] - 0.5) * 800)
            cy = int(H / 2 + (xyz[t, 1]) * 800)
            img[max(0, cy - 6) : cy + 6, max(0, cx - 6) : cx + 6] = 220 if grip[t] else 160
            vw.write(img)
        vw.release()
    meta = {
        "uuid": f"LAB+abc+2024-01-05-10h-0{k}m-00s",
        "lab": "LAB",
        "success": True,
        "ext1_cam_serial": "2345678",
        "ext2_cam_serial": "3456789",
        "wrist_cam_serial": "4567890",
        "left_mp4_path": "recordings/MP4/2345678.mp4",
        "right_mp4_path": "recordings/MP4/3456789.mp4",
        "wrist_mp4_path": "recordings/MP4/4567890.mp4",
        "trajectory_length": N15,
    }
    (ep / f"metadata_{meta['uuid']}.json").write_text(json.dumps(meta))
    return ep


def test_droid_cache_features_then_train_ac(tmp_path, capsys):
    root = tmp_path / "droid_raw"
    eps = [_write_droid_episode(root, k) for k in range(3)]
    torch.manual_seed(0)
    enc = build_model("vit_tiny", img_size=64, dim=32, heads=2, depth=1, mlp_hidden=64)
    save_model(enc, tmp_path / "encoder.safetensors")
    cache_root = tmp_path / "features"
    assert (
        cli(
            [
                "cache-features",
                "--episodes",
                str(root),
                "--encoder",
                str(tmp_path / "encoder.safetensors"),
                "--cache-root",
                str(cache_root),
                "--threads",
                "1",
            ]
        )
        == 0
    )
    ready = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("cache ready: ")]
    cache_dir = Path(ready[-1].split(": ", 1)[1].split(" (")[0])
    cached = load_cache(cache_dir)
    assert sorted(cached) == sorted(e.name for e in eps)
    for ep in eps:
        feats, states = cached[ep.name]
        assert feats.shape == (12, 16, 32) and states.shape == (12, 7)  # 15 Hz -> 4 fps
        with h5py.File(ep / "trajectory.h5") as h:
            cart = h["observation/robot_state/cartesian_position"][()]
        nearest = [int(i * 15 / 4 + 0.5) for i in range(12)]  # 15 Hz index of k/4 s
        np.testing.assert_allclose(states[:, :6], cart[nearest])
    run = tmp_path / "run"
    assert (
        cli(
            [
                "train-ac",
                f"run_dir={run}",
                f"data.episodes={root}",
                f"data.encoder={tmp_path / 'encoder.safetensors'}",
                f"data.cache_root={cache_root}",
                "data.clip_len=4",
                "data.val_frac=0.34",
                "model.overrides={dim: 32, depth: 1, heads: 2, grid_size: [4, 4]}",
                "train.steps=4",
                "train.batch_size=4",
                "train.progress=false",
                "train.eval_every=2",
                "train.ckpt_every=2",
                "threads=1",
                f"export.path={run / 'ac.safetensors'}",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "building feature cache" not in out  # it read what cache-features wrote
    assert "train-ac: stopped (done) at step 4" in out
    log = (run / "log.txt").read_text()
    assert "train episodes" in log and str(cache_dir) in log
    pred = load_model(run / "ac.safetensors")
    z = torch.from_numpy(cached[eps[0].name][0][:2].astype(np.float32))[None]
    s = torch.from_numpy(cached[eps[0].name][1][:2]).float()[None]
    with torch.no_grad():
        y = pred(z, torch.zeros(1, 2, 7), s)
    assert y.shape == (1, 2, 16, 32) and torch.isfinite(y).all()
