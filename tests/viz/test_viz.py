"""Episode videos, filmstrips and plots (vjepa2_world_model.viz), no ROS."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vjepa2_world_model.viz import video as V
from vjepa2_world_model.viz.overlay import EpisodeFrame, compose_frame, frame_size, overlay_lines
from vjepa2_world_model.viz.plots import plot_episode, plot_landscape, plot_summary, subgoal_spans


def _frames(n: int, goals: int = 2) -> list[EpisodeFrame]:
    rng = np.random.default_rng(0)
    gimg = [np.full((64, 64, 3), 40 * (g + 1), np.uint8) for g in range(goals)]
    out = []
    for k in range(n):
        g = min(goals - 1, k * goals // n)
        out.append(
            EpisodeFrame(
                rng.integers(0, 255, (64, 64, 3), np.uint8),
                gimg[g],
                k,
                g,
                goals,
                f"g{g}",
                0.1 - 0.01 * k,
                np.array([0.01, -0.02, 0.0, 0, 0, 0, 0.8]),
            )
        )
    out.append(EpisodeFrame(out[-1].rgb, gimg[-1], n, goals - 1, goals, label="end"))
    return out


def test_overlay_text_names_step_goal_energy_delta_and_gripper() -> None:
    f = _frames(3)[1]
    lines = overlay_lines(f)
    assert lines[0].startswith("step 2") and "sub-goal 1/2 g0" in lines[0]
    assert "energy 0.0900" in lines[0]
    assert "dx +1.0" in lines[1] and "dy -2.0" in lines[1]
    assert lines[2] == "gripper close (+0.80)"
    img = compose_frame(f, tile=128)
    assert img.shape == (frame_size(128)[1], frame_size(128)[0], 3)
    # the camera frame sits left, the goal image right (resized to the tile)
    assert abs(float(img[60:80, 128 + 20 : 128 + 100].mean()) - 40) < 2


def test_video_decodes_to_one_frame_per_step_plus_end_at_overlay_size(tmp_path) -> None:
    frames = _frames(5)
    path = V.write_episode_video(frames, tmp_path / "ep", tile=128)
    # H.264 through imageio-ffmpeg (a dependency): the codec every browser plays
    assert path.suffix == ".mp4" and V.video_codec(path).lower() in ("avc1", "h264")
    got = V.read_video(path)
    w, h = frame_size(128)
    assert len(got) == 6 and got[0].shape == (h, w, 3)
    # lossy, but the content is the overlay: the goal tile of the first frame is grey 40
    assert abs(float(got[0][40:100, 128 + 20 : 128 + 100].mean()) - 40) < 6


def test_animated_fallback_when_no_mp4_encoder(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(V, "MP4_FOURCCS", ("zzzz",))
    monkeypatch.setattr(V, "_imageio_h264", lambda *a: False)
    path = V.write_episode_video(_frames(3), tmp_path / "ep", tile=64)
    assert path.suffix in (".webp", ".gif") and not (tmp_path / "ep.mp4").exists()
    got = V.read_video(path)
    assert len(got) == 4 and got[0].shape == (frame_size(64)[1], frame_size(64)[0], 3)


def test_video_rejects_mixed_sizes(tmp_path) -> None:
    with pytest.raises(ValueError, match="same size"):
        V.write_video(
            [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 10, 3), np.uint8)], tmp_path / "x"
        )


def test_filmstrip_has_a_frame_per_step_above_the_goals(tmp_path) -> None:
    frames = _frames(6, goals=3)
    p = V.write_filmstrip(frames, tmp_path / "strip.png", thumb=48)
    img = cv2.imread(str(p))
    assert img.shape[1] == 7 * (48 + 4) + 4 and img.shape[0] == 2 * (18 + 48) + 12
    # the goal row holds all three goal greys (40, 80, 120) somewhere
    goal_row = img[2 * 18 + 48 + 8 :, :, 0]
    for grey in (40, 80, 120):
        assert (np.abs(goal_row.astype(int) - grey) < 2).sum() > 48 * 40


def test_plots(tmp_path) -> None:
    assert subgoal_spans([0, 0, 1, 1, 1, 2]) == [(0, 0, 1), (1, 2, 4), (2, 5, 5)]
    p = plot_episode(
        tmp_path / "ep.png",
        "t",
        [0.3, 0.2, 0.25, 0.1],
        [0, 0, 1, 1],
        ["grasp", "carry"],
        0.12,
        [10.0, 8.0, 5.0, 3.0, 2.0],
    )
    assert p.stat().st_size > 5000
    dx = np.linspace(-0.1, 0.1, 5)
    e = np.add.outer(dx**2, dx**2)
    assert (
        plot_landscape(tmp_path / "l.png", dx, dx, e, (0.0, 0.0), "t", chosen=(0.02, -0.01))
        .stat()
        .st_size
        > 5000
    )
    assert (
        plot_summary(
            tmp_path / "s.png",
            {"reach": 80.0, "pick-place": 0.0},
            {"paper": {"reach": 100, "pick-place": 65}},
            "t",
            {"reach": 10, "pick-place": 10},
        )
        .stat()
        .st_size
        > 5000
    )
