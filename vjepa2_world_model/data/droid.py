"""Raw DROID episodes -> Episode (frames at 4 fps, 7-D states).

Layout of one raw DROID episode directory::

    <episode>/metadata_<id>.json      # has "left_mp4_path" (and right/wrist)
    <episode>/trajectory.h5           # observation/robot_state/cartesian_position (T,6)
                                      # observation/robot_state/gripper_position (T,) or (T,1)
    <episode>/recordings/MP4/<serial>.mp4

cartesian_position = xyz (m) + extrinsic xyz Euler (rad); gripper 0..1 (1 closed). The
recording is 15 Hz; frames and states are resampled to ``fps`` (nearest sample).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .bags import Episode, resample_indices

DROID_HZ = 15.0


def _find_metadata(ep_dir: Path) -> dict:
    cands = sorted(ep_dir.glob("metadata*.json"))
    if not cands:
        raise ValueError(f"no metadata*.json in DROID episode {ep_dir}")
    return json.loads(cands[0].read_text())


def _resolve_mp4(ep_dir: Path, rel: str) -> Path:
    """The metadata's path may be relative to the episode, to the dataset root, or absolute."""
    rel_p = Path(rel)
    cands = [rel_p, ep_dir / rel_p, ep_dir / "recordings" / "MP4" / rel_p.name]
    cands += [parent / rel_p for parent in ep_dir.parents]
    for c in cands:
        if c.is_file():
            return c
    raise ValueError(f"left camera video {rel!r} not found for DROID episode {ep_dir}")


def read_video(path: Path) -> np.ndarray:
    """All frames of an MP4 as (T,H,W,3) uint8 RGB (the project's one reader)."""
    from vjepa2_world_model.viz.video import read_video as read_frames

    return np.stack(read_frames(path))


def read_droid_episode(
    ep_dir: str | Path, fps: float = 4.0, camera: str = "left", size: int | None = None
) -> Episode:
    """Read one raw DROID episode; ``size`` resizes frames to size x size (optional)."""
    import h5py

    ep_dir = Path(ep_dir)
    meta = _find_metadata(ep_dir)
    key = f"{camera}_mp4_path"
    if key not in meta:
        raise ValueError(f"metadata of {ep_dir} has no {key!r}")
    traj = ep_dir / "trajectory.h5"
    if not traj.is_file():
        raise ValueError(f"no trajectory.h5 in {ep_dir}")
    with h5py.File(traj, "r") as h:
        try:
            cart = np.asarray(h["observation/robot_state/cartesian_position"], dtype=np.float64)
            grip = np.asarray(h["observation/robot_state/gripper_position"], dtype=np.float64)
        except KeyError as e:
            raise ValueError(f"{traj} lacks observation/robot_state datasets: {e}") from e
    if cart.ndim != 2 or cart.shape[1] != 6:
        raise ValueError(f"cartesian_position must be (T, 6), got {cart.shape}")
    grip = grip.reshape(len(grip), -1)[:, :1]
    states = np.concatenate([cart, grip], axis=1)
    frames = read_video(_resolve_mp4(ep_dir, meta[key]))
    n = min(len(frames), len(states))
    frames, states = frames[:n], states[:n]
    stamps = (np.arange(n) * (1e9 / DROID_HZ)).astype(np.int64)
    sel = resample_indices(stamps, fps) if fps else np.arange(n)
    frames = frames[sel]
    if size is not None:
        import cv2

        frames = np.stack(
            [cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames]
        )
    return Episode(
        frames=frames,
        states=states[sel],
        stamps=stamps[sel],
        name=ep_dir.name,
        meta={"source": "droid", "metadata": meta},
    )


def list_droid_episodes(root: str | Path) -> list[Path]:
    """Episode directories (containing trajectory.h5) under ``root``."""
    return sorted(p.parent for p in Path(root).rglob("trajectory.h5"))
