"""Franka hand and motion-profile helpers shared by the simulator and the libfranka driver.

Pose maths (state7 <-> pose, applying a delta, rotation angles) is in
``vjepa2_world_model.pose``.
"""

from __future__ import annotations

import numpy as np

FRANKA_HAND_MAX_WIDTH = 0.08


def gripper_closure(width: float, max_width: float = FRANKA_HAND_MAX_WIDTH) -> float:
    """Finger width (m) -> closure 0..1 (1 = closed)."""
    return float(np.clip(1.0 - width / max_width, 0.0, 1.0))


def min_jerk(s: float) -> float:
    """Minimum-jerk time scaling 0..1 -> 0..1 (zero velocity and acceleration at both ends)."""
    s = min(max(s, 0.0), 1.0)
    return s**3 * (10.0 - 15.0 * s + 6.0 * s * s)


def gripper_command(dgripper: float, threshold: float = 0.2) -> str | None:
    """Gripper channel of a delta -> "close", "open" or None (keep).

    Deltas above +threshold close (grasp), below -threshold open; measured closure
    jumps by ~+0.5 (4 cm cube) or +1 (empty) on a grasp, so recorded data maps back.
    """
    if dgripper > threshold:
        return "close"
    if dgripper < -threshold:
        return "open"
    return None
