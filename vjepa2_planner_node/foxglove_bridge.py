"""foxglove_bridge: a live view for the Foxglove app on machines without RViz.

Serves the Foxglove WebSocket protocol (``foxglove-sdk``) on ``host:port`` and streams
the camera, the active goal image, the planned EE motion (markers as a SceneUpdate),
the EE pose, the planner status and energy. Advertises the goal services
(``/goals/list``, ``/goals/capture``, ``/goals/set_active``) and ``/planner/plan`` /
``/planner/stop`` as JSON services, so an operator can work from the app's Service
Call panel; each call is forwarded to the stack's ROS service or action. A layout
for the app is in config/foxglove_layout.json. Started by the bringups with
``foxglove:=true`` (``foxglove_port:=8765``).

Parameters: host, port, camera_topic, base_frame, image_rate_hz (camera frames sent
per second at most), republish_s (latched data re-sent for clients that join late).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import foxglove
import numpy as np
import rclpy
from foxglove import messages as fm
from foxglove.channels import PoseInFrameChannel, RawImageChannel, SceneUpdateChannel
from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker, MarkerArray

from vjepa2_planner_node.image_codec import image_msg_to_rgb8
from vjepa2_planner_node.params import ParamError, check_positive, check_topic
from vjepa2_planner_node.ros_common import (
    CAMERA_QOS,
    LATCHED_QOS,
    STATUS_QOS,
    ActionClient,
    declare,
)
from vjepa2_planner_node.ros_env import require_interfaces

FOXGLOVE_PARAMS = {
    "host": "127.0.0.1",
    "port": 8765,
    "camera_topic": "/camera/image_raw",
    "base_frame": "fr3_link0",
    "image_rate_hz": 10.0,
    "republish_s": 1.0,
}

STATUS_SCHEMA = {
    "type": "object",
    "properties": {
        k: {"type": t}
        for k, t in (
            ("state", "string"),
            ("step", "integer"),
            ("step_budget", "integer"),
            ("goal_index", "integer"),
            ("num_goals", "integer"),
            ("goal_name", "string"),
            ("energy", "number"),
            ("plan_ms", "number"),
            ("execute_ms", "number"),
            ("step_ms", "number"),
            ("message", "string"),
        )
    },
}
ENERGY_SCHEMA = {
    "type": "object",
    "properties": {
        "energy": {"type": "number"},
        "step": {"type": "integer"},
        "goal_index": {"type": "integer"},
    },
}


def _ts(stamp: Any) -> fm.Timestamp:
    return fm.Timestamp(sec=int(stamp.sec), nsec=int(stamp.nanosec))


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def raw_image(msg: Image, frame_id: str) -> fm.RawImage:
    """A ROS Image as a Foxglove RawImage (rgb8; other encodings converted)."""
    rgb = image_msg_to_rgb8(msg)
    h, w = rgb.shape[:2]
    return fm.RawImage(
        timestamp=_ts(msg.header.stamp),
        frame_id=frame_id,
        width=w,
        height=h,
        encoding="rgb8",
        step=3 * w,
        data=rgb.tobytes(),
    )


def _pose(p: Any) -> fm.Pose:
    return fm.Pose(
        position=fm.Vector3(x=p.position.x, y=p.position.y, z=p.position.z),
        orientation=fm.Quaternion(
            x=p.orientation.x, y=p.orientation.y, z=p.orientation.z, w=p.orientation.w
        ),
    )


def _color(c: Any) -> fm.Color:
    return fm.Color(r=c.r, g=c.g, b=c.b, a=c.a)


def scene_entities(markers: MarkerArray, default_frame: str) -> list[fm.SceneEntity]:
    """The planner's markers (line strip, sphere, text) as Foxglove scene entities."""
    entities = []
    for m in markers.markers:
        kw: dict[str, Any] = {}
        if m.type == Marker.LINE_STRIP:
            kw["lines"] = [
                fm.LinePrimitive(
                    type=fm.LinePrimitiveLineType.LineStrip,
                    pose=_pose(m.pose),
                    thickness=m.scale.x,
                    color=_color(m.color),
                    points=[fm.Point3(x=p.x, y=p.y, z=p.z) for p in m.points],
                )
            ]
        elif m.type == Marker.SPHERE:
            kw["spheres"] = [
                fm.SpherePrimitive(
                    pose=_pose(m.pose),
                    size=fm.Vector3(x=m.scale.x, y=m.scale.y, z=m.scale.z),
                    color=_color(m.color),
                )
            ]
        elif m.type == Marker.TEXT_VIEW_FACING:
            kw["texts"] = [
                fm.TextPrimitive(
                    pose=_pose(m.pose),
                    billboard=True,
                    font_size=m.scale.z,
                    color=_color(m.color),
                    text=m.text,
                )
            ]
        else:
            continue
        entities.append(
            fm.SceneEntity(
                timestamp=_ts(m.header.stamp),
                frame_id=m.header.frame_id or default_frame,
                id=f"{m.ns}/{m.id}",
                **kw,
            )
        )
    return entities


def status_dict(msg: Any) -> dict[str, Any]:
    """PlannerStatus as JSON-friendly dict (NaN -> null)."""
    return {
        "state": msg.state,
        "step": int(msg.step),
        "step_budget": int(msg.step_budget),
        "goal_index": int(msg.goal_index),
        "num_goals": int(msg.num_goals),
        "goal_name": msg.goal_name,
        "energy": _finite(msg.energy),
        "plan_ms": _finite(msg.plan_ms),
        "execute_ms": _finite(msg.execute_ms),
        "step_ms": _finite(msg.step_ms),
        "message": msg.message,
    }


def _json_service(
    name: str, request_props: dict[str, Any], handler: Callable[[dict[str, Any]], dict[str, Any]]
) -> foxglove.Service:
    """A JSON-encoded Foxglove service whose handler maps a request dict to a reply dict."""
    schema = foxglove.Schema(
        name=f"{name}_Request",
        encoding="jsonschema",
        data=json.dumps({"type": "object", "properties": request_props}).encode(),
    )

    def call(req: foxglove.ServiceRequest) -> bytes:
        body = json.loads(req.payload.decode() or "{}") if req.payload else {}
        return json.dumps(handler(body)).encode()

    return foxglove.Service(
        name,
        schema=foxglove.ServiceSchema(
            name.strip("/").replace("/", "_"),
            request=foxglove.MessageSchema(encoding="json", schema=schema),
        ),
        handler=call,
    )


class FoxgloveBridge(Node):
    """ROS topics -> Foxglove channels; Foxglove JSON services -> ROS services/action."""

    def __init__(self, name: str = "foxglove_bridge", **kwargs) -> None:
        super().__init__(name, **kwargs)
        require_interfaces()
        from vjepa2_interfaces.action import PlanToGoal
        from vjepa2_interfaces.msg import PlannerStatus
        from vjepa2_interfaces.srv import CaptureGoal, ListGoals, SetGoal

        self._srv = {"list": ListGoals, "capture": CaptureGoal, "set": SetGoal}
        self._PlanToGoal = PlanToGoal
        p = declare(self, FOXGLOVE_PARAMS)
        self.p = p
        check_topic(p["camera_topic"], "camera_topic")
        check_positive(p["image_rate_hz"], "image_rate_hz")
        if not 0 <= int(p["port"]) < 65536:
            raise ParamError("port", f"must be 0..65535 (0 = any free port), got {p['port']}")
        self._fx_lock = threading.Lock()
        self._last_image_t = 0.0
        self._latched: dict[str, tuple[Any, Any]] = {}  # channel name -> (channel, message)
        self._plan_handle = None
        self.ch_camera = RawImageChannel("/camera/image_raw")
        self.ch_goal = RawImageChannel("/goals/active_image")
        self.ch_motion = SceneUpdateChannel("/planner/planned_motion")
        self.ch_pose = PoseInFrameChannel("/franka/current_pose")
        self.ch_status = foxglove.Channel("/planner/status", schema=STATUS_SCHEMA)
        self.ch_energy = foxglove.Channel("/planner/energy", schema=ENERGY_SCHEMA)
        group = ReentrantCallbackGroup()
        self.create_subscription(Image, p["camera_topic"], self._on_camera, CAMERA_QOS)
        self.create_subscription(Image, "/goals/active_image", self._on_goal, LATCHED_QOS)
        self.create_subscription(MarkerArray, "/planner/planned_motion", self._on_markers, 10)
        self.create_subscription(PoseStamped, "/franka/current_pose", self._on_pose, 10)
        self.create_subscription(PlannerStatus, "/planner/status", self._on_status, STATUS_QOS)
        self._ros_clients = {
            "list": self.create_client(ListGoals, "/goals/list", callback_group=group),
            "capture": self.create_client(CaptureGoal, "/goals/capture", callback_group=group),
            "set": self.create_client(SetGoal, "/goals/set_active", callback_group=group),
            "stop": self.create_client(Trigger, "/planner/stop", callback_group=group),
        }
        self.plan_client = ActionClient(
            self, PlanToGoal, "/planner/plan_to_goal", callback_group=group
        )
        self.server = foxglove.start_server(
            name="vjepa2",
            host=str(p["host"]),
            port=int(p["port"]),
            capabilities=[foxglove.Capability.Services],
            supported_encodings=["json"],
            services=self._foxglove_services(),
        )
        self.create_timer(float(p["republish_s"]), self._republish)
        self.get_logger().info(
            f"Foxglove WebSocket server on ws://{p['host']}:{self.server.port} "
            "(Foxglove app: Open connection -> Foxglove WebSocket)"
        )

    # -- topics -> channels ----------------------------------------------------------
    def _on_camera(self, msg: Image) -> None:
        now = time.monotonic()
        if now - self._last_image_t < 1.0 / float(self.p["image_rate_hz"]):
            return
        self._last_image_t = now
        self.ch_camera.log(raw_image(msg, "camera"))

    def _on_goal(self, msg: Image) -> None:
        self._log_latched("goal", self.ch_goal, raw_image(msg, "goal"))

    def _on_markers(self, msg: MarkerArray) -> None:
        entities = scene_entities(msg, str(self.p["base_frame"]))
        if entities:
            self.ch_motion.log(fm.SceneUpdate(entities=entities))

    def _on_pose(self, msg: PoseStamped) -> None:
        self.ch_pose.log(
            fm.PoseInFrame(
                timestamp=_ts(msg.header.stamp),
                frame_id=msg.header.frame_id or self.p["base_frame"],
                pose=_pose(msg.pose),
            )
        )

    def _on_status(self, msg: Any) -> None:
        st = status_dict(msg)
        self._log_latched("status", self.ch_status, st)
        if st["energy"] is not None:
            self.ch_energy.log(
                {"energy": st["energy"], "step": st["step"], "goal_index": st["goal_index"]}
            )

    def _log_latched(self, key: str, channel: Any, message: Any) -> None:
        with self._fx_lock:
            self._latched[key] = (channel, message)
        channel.log(message)

    def _republish(self) -> None:
        """Re-send the last goal image and status: a client joining later sees them."""
        with self._fx_lock:
            items = list(self._latched.values())
        for channel, message in items:
            channel.log(message)

    # -- Foxglove services -> ROS ----------------------------------------------------
    def _call(self, key: str, request: Any, timeout: float = 10.0) -> Any:
        client = self._ros_clients[key]
        if not client.wait_for_service(timeout_sec=2.0):
            raise RuntimeError(f"ROS service {client.srv_name} is not available")
        fut = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not fut.done():
            if time.monotonic() > deadline:
                raise RuntimeError(f"ROS service {client.srv_name} did not answer")
            time.sleep(0.005)
        return fut.result()

    def _foxglove_services(self) -> list[foxglove.Service]:
        string, boolean = {"type": "string"}, {"type": "boolean"}

        def list_goals(_req: dict) -> dict:
            res = self._call("list", self._srv["list"].Request())
            return {"names": list(res.names), "active": res.active}

        def capture(req: dict) -> dict:
            res = self._call(
                "capture",
                self._srv["capture"].Request(
                    name=str(req.get("name", "")),
                    overwrite=bool(req.get("overwrite", False)),
                    set_active=bool(req.get("set_active", True)),
                ),
            )
            return {"success": res.success, "message": res.message, "path": res.path}

        def select(req: dict) -> dict:
            res = self._call("set", self._srv["set"].Request(name=str(req.get("name", ""))))
            return {"success": res.success, "message": res.message}

        def plan(req: dict) -> dict:
            return self._plan(req)

        def stop(_req: dict) -> dict:
            res = self._call("stop", Trigger.Request())
            if self._plan_handle is not None:
                self._plan_handle.cancel_goal_async()
            return {"success": res.success, "message": res.message}

        return [
            _json_service("/goals/list", {}, list_goals),
            _json_service(
                "/goals/capture",
                {"name": string, "overwrite": boolean, "set_active": boolean},
                capture,
            ),
            _json_service("/goals/set_active", {"name": string}, select),
            _json_service(
                "/planner/plan",
                {
                    "goal_names": {"type": "array", "items": string},
                    "step_budgets": {"type": "array", "items": {"type": "integer"}},
                    "energy_threshold": {"type": "number"},
                },
                plan,
            ),
            _json_service("/planner/stop", {}, stop),
        ]

    def _plan(self, req: dict) -> dict:
        """Send PlanToGoal (names given, else the active goal); answers once accepted."""
        goal = self._PlanToGoal.Goal(
            goal_names=[str(n) for n in req.get("goal_names", [])],
            step_budgets=[int(b) for b in req.get("step_budgets", [])],
            energy_threshold=float(req.get("energy_threshold", 0.0)),
        )
        if not self.plan_client.wait_for_server(timeout_sec=2.0):
            raise RuntimeError("planner action /planner/plan_to_goal is not available")
        fut = self.plan_client.send_goal_async(goal)
        deadline = time.monotonic() + 10.0
        while not fut.done():
            if time.monotonic() > deadline:
                raise RuntimeError("planner did not answer the PlanToGoal goal")
            time.sleep(0.005)
        handle = fut.result()
        if handle.accepted:
            self._plan_handle = handle
        return {
            "accepted": bool(handle.accepted),
            "message": "planning" if handle.accepted else "rejected (already planning?)",
        }

    def destroy_node(self) -> None:
        self.server.stop()
        super().destroy_node()


def main(argv: list[str] | None = None) -> int:
    from vjepa2_planner_node.ros_common import run_nodes

    rclpy.init(args=sys.argv if argv is None else ["foxglove_bridge", *argv])
    try:
        node = FoxgloveBridge()
    except (ParamError, RuntimeError) as e:
        print(f"foxglove_bridge: {e}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    run_nodes([node])
    return 0


if __name__ == "__main__":
    sys.exit(main())
