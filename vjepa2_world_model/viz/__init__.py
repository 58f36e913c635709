"""Seeing what the robot saw, without ROS: episode videos, filmstrips and plots.

- ``overlay``: one video frame = camera frame beside the active goal image, with the
  step, sub-goal, energy, commanded delta and gripper command written under them.
- ``video``: MP4 (H.264 or VP9, both play in browsers) or animated WebP/GIF where no
  MP4 encoder is available, plus the filmstrip PNG (a frame per step above the goals).
- ``plots``: energy over steps with sub-goal boundaries and the threshold, end-effector
  error over steps (simulator ground truth), the (dx, dy) energy landscape, and the
  per-run success summary beside the paper's figures.
"""

from vjepa2_world_model.viz.overlay import EpisodeFrame, compose_frame, frame_size
from vjepa2_world_model.viz.video import write_filmstrip, write_video

__all__ = ["EpisodeFrame", "compose_frame", "frame_size", "write_filmstrip", "write_video"]
