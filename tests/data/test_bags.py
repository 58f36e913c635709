"""rosbag2 MCAP episodes: round trip, actions by R_{t+1} R_t^T, resampling of live bags."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vjepa2_world_model.data.actions import actions_from_states
from vjepa2_world_model.data.bags import (
    EpisodeWriter,
    list_episodes,
    read_episode,
    write_episode,
)


def _states(n: int, rng: np.random.Generator) -> np.ndarray:
    rots = (
        Rotation.from_euler("xyz", [np.pi - 0.05, 0.1, 0.3])
        * Rotation.random(n, random_state=1) ** 0.2
    )
    s = np.zeros((n, 7))
    s[:, :3] = rng.uniform(0.3, 0.6, (n, 3))
    s[:, 3:6] = rots.as_euler("xyz")
    s[:, 6] = rng.uniform(0, 1, n)
    return s


def test_round_trip_and_actions(tmp_path):
    rng = np.random.default_rng(0)
    n = 6
    frames = rng.integers(0, 255, (n, 24, 32, 3), dtype=np.uint8)
    states = _states(n, rng)
    write_episode(tmp_path / "ep_00000", frames, states)
    assert list_episodes(tmp_path) == [tmp_path / "ep_00000"]
    ep = read_episode(tmp_path / "ep_00000")
    np.testing.assert_array_equal(ep.frames, frames)
    np.testing.assert_allclose(ep.states, states)
    a = ep.actions
    assert a.shape == (n - 1, 7)
    np.testing.assert_allclose(a[:, :3], states[1:, :3] - states[:-1, :3], atol=1e-12)
    np.testing.assert_allclose(a[:, 6], states[1:, 6] - states[:-1, 6], atol=1e-12)
    for t in range(n - 1):
        r0 = Rotation.from_euler("xyz", states[t, 3:6]).as_matrix()
        r1 = Rotation.from_euler("xyz", states[t + 1, 3:6]).as_matrix()
        d = Rotation.from_euler("xyz", a[t, 3:6]).as_matrix()
        np.testing.assert_allclose(d, r1 @ r0.T, atol=1e-9)  # left-multiplied, base frame
        np.testing.assert_allclose(d @ r0, r1, atol=1e-9)
        # the right-multiplied convention differs for these non-commuting rotations
        assert np.abs(d - r0.T @ r1).max() > 1e-3


def test_actions_known_values():
    s0 = np.array([0.4, 0.0, 0.3, np.pi, 0.0, 0.0, 0.0])
    dr = Rotation.from_euler("xyz", [0.0, 0.0, 0.2])  # yaw 0.2 in the base frame
    r1 = dr * Rotation.from_euler("xyz", s0[3:6])
    s1 = np.concatenate([[0.45, -0.02, 0.25], r1.as_euler("xyz"), [1.0]])
    a = actions_from_states(np.stack([s0, s1]))[0]
    np.testing.assert_allclose(a, [0.05, -0.02, -0.05, 0.0, 0.0, 0.2, 1.0], atol=1e-9)


def test_live_bag_resampled_to_4fps(tmp_path):
    """Camera at 10 Hz, state at 50 Hz -> 4 fps frames paired with the nearest state."""
    from rosbags.rosbag2 import StoragePlugin, Writer  # noqa: F401

    rng = np.random.default_rng(1)
    path = tmp_path / "live"
    w = EpisodeWriter(path)
    t0 = 5 * 10**9
    # write states at 50 Hz and frames at 10 Hz through the same writer
    for k in range(101):  # 2 s of state
        t = t0 + k * 20_000_000
        st = np.array([k * 0.001, 0, 0.3, np.pi, 0, 0, 0])
        msg = w._F64(layout=w._Layout(dim=[], data_offset=0), data=st)
        w.writer.write(w.c_state, t, w.ts.serialize_cdr(msg, "std_msgs/msg/Float64MultiArray"))
    for k in range(21):  # frames at 10 Hz, pixel value = frame index
        t = t0 + k * 100_000_000 + 3_000_000  # 3 ms camera latency
        f = np.full((8, 8, 3), k, np.uint8)
        hdr = w._Header(stamp=w._Time(sec=t // 10**9, nanosec=t % 10**9), frame_id="cam")
        img = w._Image(
            header=hdr,
            height=8,
            width=8,
            encoding="rgb8",
            is_bigendian=0,
            step=24,
            data=f.reshape(-1),
        )
        w.writer.write(w.c_img, t, w.ts.serialize_cdr(img, "sensor_msgs/msg/Image"))
    w.close()
    ep = read_episode(path, fps=4.0)
    idx = ep.frames[:, 0, 0, 0].astype(int)
    # 4 fps grid over 2 s of 10 Hz frames: 0, .25 (-> .2 or .3), .5, ...
    assert len(ep) == 9
    assert idx[0] == 0 and idx[2] == 5 and idx[4] == 10 and idx[-1] == 20
    np.testing.assert_allclose(np.diff(ep.stamps) / 1e9, 0.25, atol=0.051)
    # the paired state is the one nearest in time (state x = k*1 mm at 50 Hz)
    expected_x = np.round((ep.stamps - t0) / 20_000_000) * 0.001
    np.testing.assert_allclose(ep.states[:, 0], expected_x, atol=1e-9)
    _ = rng


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="no bag"):
        read_episode(tmp_path / "missing")
    with pytest.raises(ValueError, match="frames"):
        write_episode(tmp_path / "x", np.zeros((2, 4, 4, 3), np.uint8), np.zeros((3, 7)))
    with pytest.raises(ValueError, match="states"):
        actions_from_states(np.zeros((3, 6)))
