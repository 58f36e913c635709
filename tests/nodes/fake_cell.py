"""A stand-in robot cell for node tests (no MuJoCo): camera, 7-D state, ExecuteDelta.

Renders a 64x64 rgb8 frame with a bright square whose position follows the EE x/y, so
frames change with motion. ExecuteDelta moves the state linearly over ``motion_s`` in
10 ms control cycles and stops at the next cycle when the goal is canceled.
``/fake_cell/camera_enabled`` (std_srvs/SetBool) pauses/resumes the camera;
``/fake_cell/malformed`` (std_srvs/Trigger) publishes one broken frame.
Run: python -m tests.nodes.fake_cell
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np

from vjepa2_planner_node.ros_env import ensure_ros_env

ensure_ros_env()

import rclpy  # noqa: E402
from rclpy.action import ActionServer, CancelResponse  # noqa: E402
from rclpy.callback_groups import ReentrantCallbackGroup  # noqa: E402
from rclpy.node import Node  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Float64MultiArray, String  # noqa: E402
from std_srvs.srv import SetBool, Trigger  # noqa: E402

from vjepa2_planner_node.image_codec import array_to_image_msg  # noqa: E402
from vjepa2_planner_node.ros_common import ee_delta_to_array  # noqa: E402


def render(state: np.ndarray, size: int = 64) -> np.ndarray:
    img = np.full((size, size, 3), 40, np.uint8)
    cx = int(np.clip((state[0] - 0.2) / 0.4 * size, 4, size - 5))
    cy = int(np.clip((state[1] + 0.2) / 0.4 * size, 4, size - 5))
    img[cy - 4 : cy + 4, cx - 4 : cx + 4] = (250, 200, 50)
    img[:, :, 2] = np.uint8(255 * state[6])
    return img


class FakeCell(Node):
    def __init__(self) -> None:
        super().__init__("fake_cell")
        from vjepa2_interfaces.action import ExecuteDelta

        self.ExecuteDelta = ExecuteDelta
        self.declare_parameter("motion_s", 0.2)
        self.declare_parameter("camera_hz", 20.0)
        self.declare_parameter("image_size", 64)
        self.state = np.array([0.4, 0.0, 0.3, np.pi, 0.0, 0.0, 0.0])
        self.camera_on = True
        self.skip_frames = 0
        self.lock = threading.Lock()
        self.executed: list[list[float]] = []
        self.cam_pub = self.create_publisher(Image, "/camera/image_raw", 1)
        self.state_pub = self.create_publisher(Float64MultiArray, "/franka/ee_state", 10)
        self.create_timer(1.0 / self.get_parameter("camera_hz").value, self._camera)
        self.create_timer(0.02, self._publish_state)
        self.create_service(SetBool, "/fake_cell/camera_enabled", self._enable)
        self.create_service(Trigger, "/fake_cell/malformed", self._malformed)
        self.create_service(Trigger, "/fake_cell/executed", self._executed)
        self.bridge_status = "ok"
        self.status_pub = self.create_publisher(String, "/franka/status", 10)
        self.create_timer(0.2, lambda: self.status_pub.publish(String(data=self.bridge_status)))
        self.create_service(SetBool, "/fake_cell/fault", self._fault)
        ActionServer(
            self,
            ExecuteDelta,
            "/franka/execute_delta",
            self._execute,
            cancel_callback=lambda g: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup(),
        )

    def _camera(self) -> None:
        if self.skip_frames > 0:  # let a malformed frame reach depth-1 subscribers
            self.skip_frames -= 1
            return
        if self.camera_on:
            with self.lock:
                img = render(self.state, self.get_parameter("image_size").value)
            msg = array_to_image_msg(img, "rgb8")
            msg.header.stamp = self.get_clock().now().to_msg()
            self.cam_pub.publish(msg)

    def _publish_state(self) -> None:
        with self.lock:
            self.state_pub.publish(Float64MultiArray(data=self.state.tolist()))

    def _enable(self, req, res):
        self.camera_on = bool(req.data)
        res.success = True
        return res

    def _fault(self, req, res):
        """data=True: report a bridge fault on /franka/status (as the bridge does)."""
        self.bridge_status = "fault: robot unreachable (test)" if req.data else "ok"
        self.status_pub.publish(String(data=self.bridge_status))
        res.success = True
        return res

    def _malformed(self, _req, res):
        msg = array_to_image_msg(render(self.state), "rgb8")
        msg.data = bytes(msg.data)[:100]
        self.skip_frames = 4
        self.cam_pub.publish(msg)
        res.success = True
        return res

    def _executed(self, _req, res):
        res.success = True
        res.message = repr(self.executed)
        return res

    def _execute(self, gh):
        delta = ee_delta_to_array(gh.request.delta)
        start = self.state.copy()
        motion_s = float(self.get_parameter("motion_s").value)
        n = max(1, int(motion_s / 0.01))
        result = self.ExecuteDelta.Result()
        for i in range(1, n + 1):
            if gh.is_cancel_requested:
                gh.canceled()
                result.message = f"stopped after {i - 1}/{n} cycles"
                self.executed.append([-1.0, float(i - 1)])
                return result
            with self.lock:
                self.state = start + delta * i / n
                self.state[6] = np.clip(self.state[6], 0, 1)
            fb = self.ExecuteDelta.Feedback(progress=i / n)
            gh.publish_feedback(fb)
            if motion_s > 0:
                time.sleep(0.01)
        self.executed.append(delta.tolist())
        gh.succeed()
        result.success, result.state = True, self.state.tolist()
        result.executed = gh.request.delta
        return result


def main() -> int:
    from vjepa2_planner_node.ros_common import run_nodes

    rclpy.init(args=sys.argv)
    run_nodes([FakeCell()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
