"""Least-squares action-axis calibration (the V-JEPA 2-AC paper's proposed fix).

The AC predictor infers the robot's action axes from the image, so a camera placed
differently from the training cameras makes the planned translations come out
rotated. Given pairs of (action the robot really executed, action the world model
infers for the same transition), the rotation that best maps inferred onto true
translations is found in closed form (Kabsch / Wahba, via scipy), and applied to
every planned action before it is sent to the robot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation


@dataclass(frozen=True)
class AxisCalibration:
    """Rotation taking inferred (model-frame) translations to robot-base translations."""

    rotation: Rotation
    rms_before: float  # m, RMS of (inferred - true) translation
    rms_after: float  # m, RMS of (R inferred - true)

    @property
    def angle_deg(self) -> float:
        """Magnitude of the correcting rotation in degrees."""
        return float(np.degrees(self.rotation.magnitude()))

    def apply(self, action: np.ndarray) -> np.ndarray:
        """Rotate the translation (first three entries) of one or more 7-D actions."""
        action = np.asarray(action, dtype=np.float64)
        if action.shape[-1] != 7:
            raise ValueError(f"expected 7-D actions, got shape {action.shape}")
        out = action.copy()
        out[..., :3] = self.rotation.apply(action[..., :3].reshape(-1, 3)).reshape(
            action[..., :3].shape
        )
        return out


def fit_axis_rotation(true_xyz: np.ndarray, inferred_xyz: np.ndarray) -> AxisCalibration:
    """Fit R minimising sum ||R @ inferred_i - true_i||^2 over N >= 2 non-parallel pairs."""
    true_xyz = np.asarray(true_xyz, dtype=np.float64)
    inferred_xyz = np.asarray(inferred_xyz, dtype=np.float64)
    if true_xyz.shape != inferred_xyz.shape or true_xyz.ndim != 2 or true_xyz.shape[1] != 3:
        raise ValueError(
            f"need two (N,3) arrays of equal shape, got {true_xyz.shape} and {inferred_xyz.shape}"
        )
    if not (np.isfinite(true_xyz).all() and np.isfinite(inferred_xyz).all()):
        raise ValueError("translations contain NaN or inf")
    if np.linalg.matrix_rank(inferred_xyz, tol=1e-9) < 2:
        raise ValueError("inferred translations span fewer than 2 directions; rotation undefined")
    rotation, _ = Rotation.align_vectors(true_xyz, inferred_xyz)
    rms_before = float(np.sqrt(np.mean(np.sum((inferred_xyz - true_xyz) ** 2, axis=1))))
    rotated = rotation.apply(inferred_xyz)
    rms_after = float(np.sqrt(np.mean(np.sum((rotated - true_xyz) ** 2, axis=1))))
    return AxisCalibration(rotation=rotation, rms_before=rms_before, rms_after=rms_after)
