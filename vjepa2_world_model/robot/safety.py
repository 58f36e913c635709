"""Safety limits for end-effector deltas (pure numpy; used by the bridge and the sim).

Every command passes ``SafetyLimits.check(state7, action7)`` which returns a
``SafetyDecision``: the action to execute (possibly clamped), whether it was clamped
or rejected, and the reasons.  Rules, in order:
1. non-finite values (NaN/inf) or wrong length -> always rejected;
2. step size: translation norm > ``max_translation`` or rotation angle > ``max_rotation``
   -> scaled down (mode "clamp") or rejected (mode "reject");
3. workspace box (``workspace_min`` / ``workspace_max``, the min z is the minimum
   height above the table) on the target position -> the target is clipped into the box
   (mode "clamp") or the command is rejected (mode "reject").  A start pose outside the
   box is allowed to move back towards it (the clamp moves it inside).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

MODES = ("clamp", "reject")
# Default box (m, base frame): inside the FR3's reachable, well-conditioned region with the
# hand pointing down (sim-measured: bench/probe_workspace.py; the old 0.2..0.8 x 0.45 x 0.7
# box reached past the arm: at x = 0.8, z = 0.3 the hand could not follow).
DEFAULT_WORKSPACE = ((0.30, -0.35, 0.015), (0.70, 0.35, 0.55))


@dataclass
class SafetyDecision:
    """Outcome of a safety check."""

    accepted: bool
    action: np.ndarray | None  # the (possibly clamped) 7-D action to execute
    clamped: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "ok"


@dataclass
class SafetyLimits:
    """Workspace box (m, robot base frame), step limits and the clamp/reject mode."""

    workspace_min: tuple[float, float, float] = DEFAULT_WORKSPACE[0]
    workspace_max: tuple[float, float, float] = DEFAULT_WORKSPACE[1]
    max_translation: float = 0.15  # m per delta
    max_rotation: float = 0.8  # rad per delta
    mode: str = "clamp"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"safety mode must be one of {MODES}, got {self.mode!r}")
        lo, hi = np.asarray(self.workspace_min, float), np.asarray(self.workspace_max, float)
        if lo.shape != (3,) or hi.shape != (3,) or np.any(lo >= hi):
            raise ValueError(f"bad workspace box: min {lo.tolist()} max {hi.tolist()}")
        if self.max_translation <= 0 or self.max_rotation <= 0:
            raise ValueError("max_translation and max_rotation must be positive")

    def in_workspace(self, pos: np.ndarray, tol: float = 0.0) -> bool:
        pos = np.asarray(pos, float)
        lo, hi = np.asarray(self.workspace_min), np.asarray(self.workspace_max)
        return bool(np.all(pos >= lo - tol) and np.all(pos <= hi + tol))

    def check(self, state7: np.ndarray, action7: object) -> SafetyDecision:
        """Validate ``action7`` from the current ``state7``; see the module docstring."""
        try:
            action = np.asarray(action7, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            return SafetyDecision(False, None, reasons=["action is not numeric"])
        if action.shape != (7,):
            msg = f"action must have 7 values, got {action.size}"
            return SafetyDecision(False, None, reasons=[msg])
        if not np.all(np.isfinite(action)):
            return SafetyDecision(False, None, reasons=["action contains NaN or inf"])
        state = np.asarray(state7, dtype=np.float64).reshape(-1)
        if state.shape != (7,) or not np.all(np.isfinite(state)):
            return SafetyDecision(False, None, reasons=["robot state unavailable or invalid"])
        action = action.copy()
        reasons: list[str] = []
        clamped = False
        reject = self.mode == "reject"

        dist = float(np.linalg.norm(action[:3]))
        if dist > self.max_translation:
            msg = f"translation {dist:.3f} m exceeds max step {self.max_translation:.3f} m"
            if reject:
                return SafetyDecision(False, None, reasons=[msg])
            action[:3] *= self.max_translation / dist
            reasons.append(msg + " (scaled)")
            clamped = True
        rotvec = Rotation.from_euler("xyz", action[3:6]).as_rotvec()
        angle = float(np.linalg.norm(rotvec))
        if angle > self.max_rotation:
            msg = f"rotation {angle:.3f} rad exceeds max step {self.max_rotation:.3f} rad"
            if reject:
                return SafetyDecision(False, None, reasons=[msg])
            action[3:6] = Rotation.from_rotvec(rotvec * self.max_rotation / angle).as_euler("xyz")
            reasons.append(msg + " (scaled)")
            clamped = True

        target = state[:3] + action[:3]
        lo, hi = np.asarray(self.workspace_min), np.asarray(self.workspace_max)
        if np.any(target < lo) or np.any(target > hi):
            msg = (
                f"target position {np.round(target, 4).tolist()} outside workspace "
                f"[{lo.tolist()}, {hi.tolist()}]"
            )
            if reject:
                return SafetyDecision(False, None, reasons=[msg])
            action[:3] = np.clip(target, lo, hi) - state[:3]
            reasons.append(msg + " (clipped)")
            clamped = True
        return SafetyDecision(True, action, clamped=clamped, reasons=reasons)

    @classmethod
    def from_dict(cls, values: dict) -> SafetyLimits:
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        for key in ("workspace_min", "workspace_max"):
            if key in known:
                known[key] = tuple(float(v) for v in known[key])
        return cls(**known)
