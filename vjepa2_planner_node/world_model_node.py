"""world_model node: the ROS inputs of the in-process world model (agent.WorldModelCore).

Subscribes the camera Image and the 7-D EE state into the core's observation buffer
(stale-input watchdog), encodes the latched active goal image through the core's
``set_active_goal``, and publishes diagnostics (encode/predict ms, input ages). It has no
process of its own and no services: planner_node hosts it next to the planner, and the
planner calls the core directly (one copy of the weights, no process boundary).

Parameters: checkpoint, device (auto|cpu|cuda|cuda:N), camera_topic, state_topic,
stale_after_s, diagnostics_period_s, active_goal_topic, active_goal_name_topic.

"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Float64MultiArray, String

from vjepa2_planner_node.image_codec import image_msg_to_rgb8
from vjepa2_planner_node.params import (
    ParamError,
    check_positive,
    check_topic,
    load_encoder_and_predictor,
    resolve_device,
)
from vjepa2_planner_node.ros_common import (
    CAMERA_QOS,
    LATCHED_QOS,
    check_topic_type,
    declare,
    stamp_to_sec,
    topic_type_problem,
)
from vjepa2_world_model.planning.agent import WorldModelCore

WORLD_MODEL_PARAMS = {
    "checkpoint": "",
    "device": "auto",
    "camera_topic": "/camera/image_raw",
    "state_topic": "/franka/ee_state",
    "stale_after_s": 1.0,
    "diagnostics_period_s": 1.0,
    "active_goal_topic": "/goals/active_image",
    "active_goal_name_topic": "/goals/active_name",
}


class WorldModelNode(Node):
    """Thin ROS wrapper over a WorldModelCore (created from params unless given)."""

    def __init__(
        self, core: WorldModelCore | None = None, name: str = "world_model", **kwargs
    ) -> None:
        super().__init__(name, **kwargs)
        p = declare(self, WORLD_MODEL_PARAMS)
        self.p = p
        check_topic(p["camera_topic"], "camera_topic")
        check_topic(p["state_topic"], "state_topic")
        stale = check_positive(p["stale_after_s"], "stale_after_s")
        if core is None:
            device = resolve_device(p["device"])
            core = WorldModelCore(
                *load_encoder_and_predictor(p["checkpoint"], device), device, stale
            )
            core.checkpoint = str(p["checkpoint"])
            self.get_logger().info(f"loaded {p['checkpoint']} on {device}")
        self.core = core
        self.core.obs.stale_after = stale
        if p["camera_topic"] == p["state_topic"]:
            raise ParamError("camera_topic", f"same topic as state_topic ({p['state_topic']})")
        self._typed_topics = [
            (p["camera_topic"], "sensor_msgs/msg/Image", "camera_topic"),
            (p["state_topic"], "std_msgs/msg/Float64MultiArray", "state_topic"),
        ]
        for topic, typ, param in self._typed_topics:
            check_topic_type(self, topic, typ, param, wait_s=1.0)
        self.fatal: str | None = None
        self._started = time.monotonic()
        self._type_timer = self.create_timer(0.25, self._recheck_topic_types)
        self.active_goal: str = ""
        self.frames_received = 0
        self.frames_rejected = 0
        group = MutuallyExclusiveCallbackGroup()
        self.create_subscription(
            Image, p["camera_topic"], self._on_image, CAMERA_QOS, callback_group=group
        )
        self.create_subscription(
            Float64MultiArray, p["state_topic"], self._on_state, 10, callback_group=group
        )
        self.create_subscription(
            Image,
            p["active_goal_topic"],
            self._on_active_goal,
            LATCHED_QOS,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        self.create_subscription(
            String, p["active_goal_name_topic"], self._on_active_name, LATCHED_QOS
        )
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(float(p["diagnostics_period_s"]), self._publish_diagnostics)

    def _recheck_topic_types(self) -> None:
        """Late discovery: a wrong-typed input topic in the first 15 s is a startup error."""
        for topic, typ, param in self._typed_topics:
            problem = topic_type_problem(self, topic, typ)
            if problem:
                err = ParamError(param, problem)
                self.get_logger().fatal(str(err))
                self.fatal = f"{self.get_name()}: {err}"
                self._type_timer.cancel()  # run_nodes stops the executor on .fatal
                return
        if time.monotonic() - self._started > 15.0:
            self._type_timer.cancel()

    # -- inputs ---------------------------------------------------------------------
    def _on_image(self, msg: Image) -> None:
        try:
            rgb = image_msg_to_rgb8(msg)
        except ValueError as e:
            self.frames_rejected += 1
            self.core.obs.report_fault(f"malformed camera frame: {e}")
            self.get_logger().warning(f"rejected camera frame: {e}", throttle_duration_sec=1.0)
            return
        self.frames_received += 1
        st = msg.header.stamp
        self.core.obs.put_frame(rgb, stamp_to_sec(st), st.sec * 10**9 + st.nanosec)

    def _on_state(self, msg: Float64MultiArray) -> None:
        try:
            self.core.obs.put_state(np.asarray(msg.data))
        except ValueError as e:
            self.core.obs.report_fault(f"bad robot state: {e}")

    def _on_active_name(self, msg: String) -> None:
        self.active_goal = msg.data

    def _on_active_goal(self, msg: Image) -> None:
        try:
            self.core.set_active_goal(image_msg_to_rgb8(msg))
        except ValueError as e:
            self.get_logger().error(f"active goal image rejected: {e}")

    # -- diagnostics -----------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        h = self.core.obs.health()
        st = DiagnosticStatus(name="vjepa2/world_model", hardware_id=str(self.core.device))
        st.level = DiagnosticStatus.OK if h.ok else DiagnosticStatus.WARN
        st.message = "ok" if h.ok else h.reason

        def kv(k: str, v: float | int | str) -> KeyValue:
            return KeyValue(key=k, value=f"{v:.3f}" if isinstance(v, float) else str(v))

        st.values = [
            kv("encode_ms", self.core.encode_ms),
            kv("predict_ms", self.core.predict_ms),
            kv("frame_age_s", h.frame_age if math.isfinite(h.frame_age) else -1.0),
            kv("state_age_s", h.state_age if math.isfinite(h.state_age) else -1.0),
            kv("frames_received", self.frames_received),
            kv("frames_rejected", self.frames_rejected),
            kv("cached_goals", _bounded_list(sorted(self.core.goals))),
        ]
        arr = DiagnosticArray(status=[st])
        arr.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(arr)


def exit_code(nodes: list[Node]) -> int:
    """2 (and the message on stderr) if a node stopped on a startup parameter error.

    Called after the nodes are destroyed: ``fatal`` already names the node."""
    for n in nodes:
        if getattr(n, "fatal", None):
            print(n.fatal, file=sys.stderr)
            return 2
    return 0


def _bounded_list(names: list[str], limit: int = 10) -> str:
    """Comma list of at most ``limit`` names, then "(+N more)" (bounded diagnostics)."""
    head = ",".join(n[:64] for n in names[:limit])
    return head + (f" (+{len(names) - limit} more)" if len(names) > limit else "")
