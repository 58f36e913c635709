"""Goal library: a directory of named goal images (NAME.png, RGB). No ROS.

Users make goals by moving the robot to the goal configuration and photographing it
(goal_selector's capture service); sub-goal sequences are lists of names.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vjepa2_planner_node.image_codec import check_image_size
from vjepa2_planner_node.params import check_goal_name

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_GOAL_FILE_BYTES = 64 * 1024 * 1024


def png_size(path: Path) -> tuple[int, int]:
    """(height, width) from a PNG's IHDR header; ValueError if it is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise ValueError(f"goal image {path} is not a PNG file")
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return height, width


class GoalLibrary:
    """Named RGB goal images stored as PNG files in ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.root / f"{check_goal_name(name)}.png"

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.png"))

    def __contains__(self, name: str) -> bool:
        try:
            return self.path(name).is_file()
        except ValueError:
            return False

    def save(self, name: str, image_rgb: np.ndarray, overwrite: bool = False) -> Path:
        """Write an (H, W, 3) uint8 RGB image; ValueError if it exists and not overwrite."""
        path = self.path(name)
        image_rgb = np.asarray(image_rgb)
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
            raise ValueError(
                f"goal image must be (H, W, 3) uint8 RGB, got {image_rgb.shape} {image_rgb.dtype}"
            )
        check_image_size(*image_rgb.shape[:2], what=f"goal image {name!r}")
        if path.exists() and not overwrite:
            raise ValueError(f"goal {name!r} already exists (set overwrite)")
        tmp = path.with_suffix(".tmp.png")
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(image_rgb[:, :, ::-1])):
            raise OSError(f"could not write {tmp}")
        tmp.replace(path)
        return path

    def load(self, name: str) -> np.ndarray:
        """(H, W, 3) uint8 RGB; KeyError naming the goal if it does not exist."""
        path = self.path(name)
        if not path.is_file():
            raise KeyError(f"no goal named {name!r} in {self.root} (have: {self.names()})")
        if path.stat().st_size > MAX_GOAL_FILE_BYTES:
            raise ValueError(f"goal image {path} is larger than {MAX_GOAL_FILE_BYTES} bytes")
        check_image_size(*png_size(path), what=f"goal image {path.name}")
        try:
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        except cv2.error as e:
            raise ValueError(f"goal image {path} could not be decoded: {e}") from None
        if bgr is None:
            raise ValueError(f"goal image {path} is not a readable image")
        return np.ascontiguousarray(bgr[:, :, ::-1])

    def delete(self, name: str) -> None:
        path = self.path(name)
        if not path.is_file():
            raise KeyError(f"no goal named {name!r}")
        path.unlink()
