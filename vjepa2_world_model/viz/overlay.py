"""One annotated video frame: what the planner saw, the goal it aimed at, what it sent."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

HEADER_PX = 22  # label row above the two images
BAND_PX = 74  # text band under them (three lines)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BG = (24, 24, 24)
_FG = (235, 235, 235)


@dataclass
class EpisodeFrame:
    """One planning step as seen from outside the planner.

    ``rgb`` is the camera frame the step was planned from (for the last frame of an
    episode: the scene after the last motion, ``action`` None)."""

    rgb: np.ndarray  # (H, W, 3) uint8
    goal_rgb: np.ndarray  # (H, W, 3) uint8, the active (sub-)goal image
    step: int  # 0-based step index over the whole request
    goal_index: int
    num_goals: int
    goal_name: str = ""
    energy: float = float("nan")  # energy of the chosen plan
    action: np.ndarray | None = None  # (7,) commanded delta: dxyz (m), drpy (rad), dgripper
    label: str = ""  # e.g. "end"; replaces the step label when set


def frame_size(tile: int = 256) -> tuple[int, int]:
    """(width, height) of every composed frame for a given image tile size."""
    return 2 * tile, tile + HEADER_PX + BAND_PX


def _fit(img: np.ndarray, tile: int) -> np.ndarray:
    img = np.asarray(img, np.uint8)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got shape {img.shape}")
    if img.shape[:2] != (tile, tile):
        img = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA)
    return img


def _text(
    canvas: np.ndarray,
    text: str,
    x: int,
    y: int,
    scale: float = 0.45,
    color: tuple[int, int, int] = _FG,
) -> None:
    cv2.putText(canvas, text, (x, y), _FONT, scale, color, 1, cv2.LINE_AA)


def gripper_word(dg: float) -> str:
    """The gripper command of a delta in words (the planner's dead band is 0.25)."""
    if dg > 0.25:
        return f"close ({dg:+.2f})"
    if dg < -0.25:
        return f"open ({dg:+.2f})"
    return f"keep ({dg:+.2f})"


def overlay_lines(f: EpisodeFrame) -> list[str]:
    """The text written under the images."""
    head = f.label or f"step {f.step + 1}"
    goal = f"sub-goal {f.goal_index + 1}/{f.num_goals}" + (f" {f.goal_name}" if f.goal_name else "")
    energy = "" if np.isnan(f.energy) else f"   energy {f.energy:.4f}"
    lines = [f"{head}   {goal}{energy}"]
    if f.action is None:
        lines += ["no command (scene after the last motion)", ""]
    else:
        a = np.asarray(f.action, float)
        lines.append(
            f"delta  dx {100 * a[0]:+.1f}  dy {100 * a[1]:+.1f}  dz {100 * a[2]:+.1f} cm"
            f"   |rot| {np.degrees(np.linalg.norm(a[3:6])):.1f} deg"
        )
        lines.append(f"gripper {gripper_word(float(a[6]))}")
    return lines


def compose_frame(f: EpisodeFrame, tile: int = 256) -> np.ndarray:
    """(H, W, 3) uint8 RGB: camera | goal, labels above, overlay text below."""
    w, h = frame_size(tile)
    canvas = np.full((h, w, 3), _BG, np.uint8)
    canvas[HEADER_PX : HEADER_PX + tile, :tile] = _fit(f.rgb, tile)
    canvas[HEADER_PX : HEADER_PX + tile, tile:] = _fit(f.goal_rgb, tile)
    _text(canvas, "camera (planner input)" if f.action is not None else "camera", 6, 16)
    _text(
        canvas,
        f"goal {f.goal_index + 1}/{f.num_goals}" + (f": {f.goal_name}" if f.goal_name else ""),
        tile + 6,
        16,
    )
    cv2.line(canvas, (tile, HEADER_PX), (tile, HEADER_PX + tile - 1), _BG, 2)
    y0 = HEADER_PX + tile
    for k, line in enumerate(overlay_lines(f)):
        _text(canvas, line, 6, y0 + 20 + 22 * k, 0.5 if k == 0 else 0.45)
    return canvas
