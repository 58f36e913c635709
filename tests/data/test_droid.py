"""Raw DROID reader on a tiny episode written here (trajectory.h5 + MP4 + metadata JSON)."""

from __future__ import annotations

import json

import cv2
import h5py
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vjepa2_world_model.data.droid import list_droid_episodes, read_droid_episode


def _write_episode(root, n=30, size=64):
    ep = root / "Lab" / "success" / "2024-01-01" / "Mon_Jan__1_00:00:00_2024"
    (ep / "recordings" / "MP4").mkdir(parents=True)
    rng = np.random.default_rng(0)
    pos = np.cumsum(rng.normal(0, 0.01, (n, 3)), axis=0) + [0.5, 0.0, 0.3]
    rot = Rotation.from_euler("xyz", [np.pi, 0.0, 0.0])
    eul = []
    for _ in range(n):
        eul.append(rot.as_euler("xyz"))
        rot = Rotation.from_euler("xyz", rng.normal(0, 0.05, 3)) * rot
    cart = np.concatenate([pos, np.array(eul)], axis=1)
    grip = np.clip(np.linspace(-0.2, 1.2, n), 0, 1)
    with h5py.File(ep / "trajectory.h5", "w") as h:
        g = h.create_group("observation/robot_state")
        g["cartesian_position"] = cart
        g["gripper_position"] = grip
        h.create_group("observation/camera_extrinsics")["12345_left"] = np.zeros((n, 6))
    vw = cv2.VideoWriter(
        str(ep / "recordings" / "MP4" / "12345.mp4"),
        cv2.VideoWriter_fourcc(*"mp4v"),
        15.0,
        (size, size),
    )
    assert vw.isOpened()
    for k in range(n):  # grey level encodes the frame index
        vw.write(np.full((size, size, 3), 8 * k, np.uint8))
    vw.release()
    meta = {
        "uuid": "x",
        "left_mp4_path": "recordings/MP4/12345.mp4",
        "right_mp4_path": "recordings/MP4/67890.mp4",
        "trajectory_length": n,
    }
    (ep / "metadata_x.json").write_text(json.dumps(meta))
    return ep, np.concatenate([cart, grip[:, None]], axis=1)


def test_droid_episode_resampled_with_correct_deltas(tmp_path):
    ep_dir, states15 = _write_episode(tmp_path)
    assert list_droid_episodes(tmp_path) == [ep_dir]
    ep = read_droid_episode(ep_dir, fps=4.0, size=32)
    # 30 frames at 15 Hz = 0..1.933 s -> 4 fps grid 0, .25, ..., 1.75 -> 8 frames
    expected = np.array([0, 4, 8, 11, 15, 19, 23, 26])  # nearest 15 Hz index of k/4 s
    assert len(ep) == 8
    np.testing.assert_allclose(ep.states, states15[expected])
    assert ep.frames.shape == (8, 32, 32, 3)
    np.testing.assert_allclose(ep.frames[:, 16, 16, 0].astype(float) / 8, expected, atol=1.0)
    a = ep.actions
    for t in range(len(ep) - 1):
        r0 = Rotation.from_euler("xyz", ep.states[t, 3:6]).as_matrix()
        r1 = Rotation.from_euler("xyz", ep.states[t + 1, 3:6]).as_matrix()
        np.testing.assert_allclose(
            Rotation.from_euler("xyz", a[t, 3:6]).as_matrix(), r1 @ r0.T, atol=1e-9
        )
    np.testing.assert_allclose(a[:, :3], np.diff(ep.states[:, :3], axis=0))
    np.testing.assert_allclose(a[:, 6], np.diff(ep.states[:, 6]))


def test_droid_missing_video(tmp_path):
    ep_dir, _ = _write_episode(tmp_path)
    (ep_dir / "recordings" / "MP4" / "12345.mp4").unlink()
    with pytest.raises(ValueError, match="not found"):
        read_droid_episode(ep_dir)
