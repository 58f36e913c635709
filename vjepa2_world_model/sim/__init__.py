"""Simulated Franka cell: scene (franky-sim FR3 + hand), rendering, direct stepping.

Pure MuJoCo / franky-sim, no ROS.  ``from vjepa2_world_model.sim import DirectSim``.
"""

from __future__ import annotations

import os

# Must be set before mujoco is first imported (headless offscreen rendering).
os.environ.setdefault("MUJOCO_GL", "egl")

from .config import DEFAULT_CONFIG_PATH, load_config
from .direct import DirectSim, MoveResult

__all__ = ["DEFAULT_CONFIG_PATH", "DirectSim", "MoveResult", "load_config"]
