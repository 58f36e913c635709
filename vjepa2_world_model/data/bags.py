"""rosbag2 MCAP episodes with ``rosbags`` (no ROS install needed).

Topics match the live recorder: camera frames as sensor_msgs/Image (rgb8) on
``/camera/image_raw`` and the 7-D state as std_msgs/Float64MultiArray on
``/franka/ee_state``. Reading pairs every frame with the latest state (or the nearest,
within ``max_skew``) and resamples to ``fps``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_TOPIC = "/camera/image_raw"
STATE_TOPIC = "/franka/ee_state"
IMAGE_TYPE = "sensor_msgs/msg/Image"
STATE_TYPE = "std_msgs/msg/Float64MultiArray"


@dataclass
class Episode:
    """One episode: frames (T,H,W,3) uint8 RGB, states (T,7), stamps (T,) ns."""

    frames: np.ndarray
    states: np.ndarray
    stamps: np.ndarray
    name: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3:
            raise ValueError(f"frames must be (T,H,W,3), got {self.frames.shape}")
        if self.states.shape != (len(self.frames), 7):
            raise ValueError(f"states must be ({len(self.frames)}, 7), got {self.states.shape}")

    @property
    def actions(self) -> np.ndarray:
        """(T-1, 7) actions between consecutive states."""
        from .actions import actions_from_states

        return actions_from_states(self.states)

    def __len__(self) -> int:
        return len(self.frames)


def _typestore() -> Any:
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


class EpisodeWriter:
    """Incremental MCAP writer: ``add(stamp_ns, frame, state)`` per step."""

    def __init__(self, path: str | Path, frame_id: str = "ext_cam") -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path = Path(path)
        if self.path.exists():
            raise ValueError(f"bag already exists: {self.path}")
        self.ts = _typestore()
        self.frame_id = frame_id
        self.writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self.writer.open()
        self.c_img = self.writer.add_connection(IMAGE_TOPIC, IMAGE_TYPE, typestore=self.ts)
        self.c_state = self.writer.add_connection(STATE_TOPIC, STATE_TYPE, typestore=self.ts)
        t = self.ts.types
        self._Image, self._Header, self._Time = (
            t["sensor_msgs/msg/Image"],
            t["std_msgs/msg/Header"],
            t["builtin_interfaces/msg/Time"],
        )
        self._F64 = t["std_msgs/msg/Float64MultiArray"]
        self._Layout = t["std_msgs/msg/MultiArrayLayout"]

    def add(self, stamp_ns: int, frame: np.ndarray, state: np.ndarray) -> None:
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame must be (H,W,3) uint8, got {frame.shape}")
        state = np.asarray(state, dtype=np.float64).reshape(-1)
        if state.shape != (7,):
            raise ValueError(f"state must have 7 values, got {state.shape}")
        stamp_ns = int(stamp_ns)
        header = self._Header(
            stamp=self._Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9),
            frame_id=self.frame_id,
        )
        h, w = frame.shape[:2]
        img = self._Image(
            header=header,
            height=h,
            width=w,
            encoding="rgb8",
            is_bigendian=0,
            step=w * 3,
            data=frame.reshape(-1),
        )
        msg = self._F64(layout=self._Layout(dim=[], data_offset=0), data=state)
        self.writer.write(self.c_img, stamp_ns, self.ts.serialize_cdr(img, IMAGE_TYPE))
        self.writer.write(self.c_state, stamp_ns, self.ts.serialize_cdr(msg, STATE_TYPE))

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_episode(
    path: str | Path,
    frames: np.ndarray,
    states: np.ndarray,
    stamps_ns: np.ndarray | None = None,
    fps: float = 4.0,
) -> Path:
    """Write a whole episode as an MCAP bag directory; returns the path."""
    frames = np.asarray(frames)
    states = np.asarray(states)
    if len(frames) != len(states):
        raise ValueError(f"{len(frames)} frames but {len(states)} states")
    if stamps_ns is None:
        stamps_ns = (np.arange(len(frames)) * (1e9 / fps)).astype(np.int64) + 10**9
    with EpisodeWriter(path) as w:
        for t, f, s in zip(stamps_ns, frames, states, strict=True):
            w.add(int(t), f, s)
    return Path(path)


def _image_to_rgb(msg: Any) -> np.ndarray:
    h, w, enc = int(msg.height), int(msg.width), str(msg.encoding).lower()
    data = np.asarray(msg.data, dtype=np.uint8)
    ch = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}.get(enc)
    if ch is None:
        raise ValueError(f"unsupported image encoding {msg.encoding!r}")
    step = int(msg.step) or w * ch
    img = data.reshape(h, step)[:, : w * ch].reshape(h, w, ch)
    if enc == "mono8":
        return np.repeat(img, 3, axis=2)
    if enc.startswith("bgr"):
        img = img[:, :, 2::-1]
    return np.ascontiguousarray(img[:, :, :3])


def resample_indices(stamps_ns: np.ndarray, fps: float) -> np.ndarray:
    """Indices of the frames closest to a regular ``fps`` grid starting at the first."""
    stamps_ns = np.asarray(stamps_ns, dtype=np.int64)
    if len(stamps_ns) == 0:
        return np.zeros(0, dtype=np.int64)
    period = 1e9 / fps
    n_grid = int((stamps_ns[-1] - stamps_ns[0]) / period + 1e-6) + 1
    grid = stamps_ns[0] + np.arange(n_grid) * period
    idx = np.searchsorted(stamps_ns, grid)
    idx = np.clip(idx, 1, len(stamps_ns) - 1) if len(stamps_ns) > 1 else np.zeros_like(idx)
    if len(stamps_ns) > 1:
        left = idx - 1
        closer_left = np.abs(grid - stamps_ns[left]) <= np.abs(stamps_ns[idx] - grid)
        idx = np.where(closer_left, left, idx)
    return np.unique(idx)


def read_episode(
    path: str | Path,
    fps: float | None = 4.0,
    max_skew_s: float = 0.2,
    image_topic: str = IMAGE_TOPIC,
    state_topic: str = STATE_TOPIC,
) -> Episode:
    """Read a bag into an Episode (frames paired with the nearest state, resampled to fps)."""
    from rosbags.rosbag2 import Reader

    path = Path(path)
    if not path.exists():
        raise ValueError(f"no bag at {path}")
    ts = _typestore()
    frames, f_stamps, states, s_stamps = [], [], [], []
    with Reader(path) as reader:
        conns = [c for c in reader.connections if c.topic in (image_topic, state_topic)]
        topics = {c.topic for c in conns}
        for need in (image_topic, state_topic):
            if need not in topics:
                raise ValueError(f"bag {path} has no topic {need}")
        for conn, stamp, data in reader.messages(connections=conns):
            msg = ts.deserialize_cdr(data, conn.msgtype)
            if conn.topic == image_topic:
                frames.append(_image_to_rgb(msg))
                f_stamps.append(stamp)
            else:
                v = np.asarray(msg.data, dtype=np.float64)
                if v.shape != (7,):
                    raise ValueError(f"{state_topic} message has {v.size} values, want 7")
                states.append(v)
                s_stamps.append(stamp)
    if not frames or not states:
        raise ValueError(f"bag {path} has no frames or no states")
    f_stamps_a = np.asarray(f_stamps, dtype=np.int64)
    order = np.argsort(f_stamps_a, kind="stable")
    f_stamps_a = f_stamps_a[order]
    s_stamps_a = np.asarray(s_stamps, dtype=np.int64)
    s_order = np.argsort(s_stamps_a, kind="stable")
    s_stamps_a, states_a = s_stamps_a[s_order], np.stack(states)[s_order]
    # nearest state for each frame
    j = np.clip(np.searchsorted(s_stamps_a, f_stamps_a), 0, len(s_stamps_a) - 1)
    jl = np.clip(j - 1, 0, len(s_stamps_a) - 1)
    use_l = np.abs(s_stamps_a[jl] - f_stamps_a) <= np.abs(s_stamps_a[j] - f_stamps_a)
    j = np.where(use_l, jl, j)
    ok = np.abs(s_stamps_a[j] - f_stamps_a) <= max_skew_s * 1e9
    keep = order[ok]
    f_stamps_a, j = f_stamps_a[ok], j[ok]
    if fps is not None and len(f_stamps_a) > 1:
        sel = resample_indices(f_stamps_a, fps)
        keep, f_stamps_a, j = keep[sel], f_stamps_a[sel], j[sel]
    if len(keep) == 0:
        raise ValueError(f"bag {path}: no frame has a state within {max_skew_s} s")
    return Episode(
        frames=np.stack([frames[k] for k in keep]),
        states=states_a[j],
        stamps=f_stamps_a,
        name=path.name,
    )


def list_episodes(root: str | Path) -> list[Path]:
    """Complete bag directories (with metadata.yaml) under ``root``, sorted by name."""
    root = Path(root)
    return sorted(p.parent for p in root.glob("*/metadata.yaml"))
