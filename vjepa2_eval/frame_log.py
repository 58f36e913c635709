"""Records the camera frames the planner planned from, for episode videos.

The planner stamps every commanded delta (``/planner/ee_delta``, EEDelta) with the
header stamp of the camera frame it planned that delta from; this log keeps the last
few camera messages and, on each delta, keeps the frame with that stamp (the nearest
earlier one if it was missed). ROS side only: the drawing is in vjepa2_world_model.viz.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import numpy as np
from sensor_msgs.msg import Image
from vjepa2_interfaces.msg import EEDelta

from vjepa2_planner_node.image_codec import image_msg_to_rgb8
from vjepa2_planner_node.ros_common import CAMERA_QOS


def _ns(stamp: Any) -> int:
    return int(stamp.sec) * 10**9 + int(stamp.nanosec)


class FrameLog:
    """Planner-input frames of the current PlanToGoal request."""

    def __init__(
        self,
        node: Any,
        camera_topic: str = "/camera/image_raw",
        delta_topic: str = "/planner/ee_delta",
        keep: int = 60,
    ) -> None:
        self._lock = threading.Lock()
        self._recent: deque[tuple[int, Image]] = deque(maxlen=keep)
        self._active = False
        self.steps: list[np.ndarray] = []  # planner-input frame per commanded delta
        self.goal_images: list[np.ndarray] = []
        self.goal_names: list[str] = []
        self.final: np.ndarray | None = None
        self.exact_matches = 0
        node.create_subscription(Image, camera_topic, self._on_image, CAMERA_QOS)
        node.create_subscription(EEDelta, delta_topic, self._on_delta, 10)

    def _on_image(self, msg: Image) -> None:
        with self._lock:
            self._recent.append((_ns(msg.header.stamp), msg))

    def _on_delta(self, msg: EEDelta) -> None:
        stamp = _ns(msg.header.stamp)
        with self._lock:
            if not self._active or not self._recent:
                return
            exact = [m for s, m in self._recent if s == stamp]
            earlier = [m for s, m in self._recent if s <= stamp]
            img = exact[-1] if exact else (earlier[-1] if earlier else self._recent[-1][1])
            self.exact_matches += bool(exact)
            self.steps.append(image_msg_to_rgb8(img))

    def begin(self, goal_images: list[Image], goal_names: list[str]) -> None:
        """Start a request: forget the last one's frames, keep its goal images."""
        with self._lock:
            self.steps, self.final, self.exact_matches = [], None, 0
            self.goal_images = [image_msg_to_rgb8(g) for g in goal_images]
            self.goal_names = list(goal_names)
            self._active = True

    def end(self) -> None:
        """The request finished: keep the latest frame as the scene after it."""
        with self._lock:
            self._active = False
            if self._recent:
                self.final = image_msg_to_rgb8(self._recent[-1][1])
