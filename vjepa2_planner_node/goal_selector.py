"""goal_selector: the goal library behind ROS, plus RViz goal selection.

Services (vjepa2_interfaces/srv): /goals/capture (CaptureGoal: save the current camera
frame as NAME), /goals/set_active (SetGoal), /goals/list (ListGoals), /goals/delete
(DeleteGoal), /goals/get (GetGoal -> Image). Latched topics: /goals/active_image
(sensor_msgs/Image) and /goals/active_name (std_msgs/String).

Interactive marker server (visualization_msgs protocol, namespace ``marker_namespace``,
default /goal_markers): ``update`` (InteractiveMarkerUpdate, full UPDATE on every change,
KEEP_ALIVE each second), ``feedback`` (InteractiveMarkerFeedback from RViz) and the
``get_interactive_markers`` service. One menu marker ``goal_menu`` whose context menu
lists "Set goal: NAME" per library goal, "Capture current view as goal", "Plan to goal"
(PlanToGoal with the active goal) and "Stop" (/planner/stop).

Parameters: goals_dir, camera_topic, marker_frame, marker_namespace, plan_action,
stop_service, step_budget (of "Plan to goal"), marker_xyz.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from dataclasses import dataclass

import numpy as np
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String
from std_srvs.srv import Trigger
from visualization_msgs.msg import (
    InteractiveMarker,
    InteractiveMarkerControl,
    InteractiveMarkerFeedback,
    InteractiveMarkerUpdate,
    Marker,
    MenuEntry,
)
from visualization_msgs.srv import GetInteractiveMarkers

from vjepa2_planner_node.goal_library import GoalLibrary
from vjepa2_planner_node.image_codec import array_to_image_msg, image_msg_to_rgb8
from vjepa2_planner_node.params import ParamError, check_goal_name, check_topic
from vjepa2_planner_node.ros_common import CAMERA_QOS, LATCHED_QOS, ActionClient, declare
from vjepa2_planner_node.ros_env import require_interfaces

GOAL_SELECTOR_PARAMS = {
    "goals_dir": "goals",
    "camera_topic": "/camera/image_raw",
    "marker_frame": "fr3_link0",
    "marker_namespace": "/goal_markers",
    "plan_action": "/planner/plan_to_goal",
    "stop_service": "/planner/stop",
    "step_budget": 0,  # 0 = planner default
    "marker_xyz": [0.4, -0.4, 0.3],
}

MENU_CAPTURE = "Capture current view as goal"
MENU_PLAN = "Plan to goal"
MENU_STOP = "Stop"
SET_PREFIX = "Set goal: "


@dataclass
class MenuAction:
    kind: str  # "set" | "capture" | "plan" | "stop"
    goal: str = ""


def build_menu(goal_names: list[str]) -> tuple[list[MenuEntry], dict[int, MenuAction]]:
    """Menu entries (ids from 1, all top level) and what each id does."""
    entries, actions = [], {}
    items = [(SET_PREFIX + n, MenuAction("set", n)) for n in goal_names]
    items += [
        (MENU_CAPTURE, MenuAction("capture")),
        (MENU_PLAN, MenuAction("plan")),
        (MENU_STOP, MenuAction("stop")),
    ]
    for i, (title, act) in enumerate(items, start=1):
        entries.append(
            MenuEntry(id=i, parent_id=0, title=title, command="", command_type=MenuEntry.FEEDBACK)
        )
        actions[i] = act
    return entries, actions


class GoalSelectorNode(Node):
    """Goal library services, latched active goal, interactive-marker goal menu."""

    def __init__(self, name: str = "goal_selector", **kwargs) -> None:
        super().__init__(name, **kwargs)
        require_interfaces()
        from vjepa2_interfaces.action import PlanToGoal
        from vjepa2_interfaces.srv import CaptureGoal, DeleteGoal, GetGoal, ListGoals, SetGoal

        self._PlanToGoal = PlanToGoal
        p = declare(self, GOAL_SELECTOR_PARAMS)
        self.p = p
        check_topic(p["camera_topic"], "camera_topic")
        check_topic(p["marker_namespace"], "marker_namespace")
        self.library = GoalLibrary(p["goals_dir"])
        self.active = ""
        self._frame: np.ndarray | None = None
        self._lock = threading.Lock()
        self.create_subscription(Image, p["camera_topic"], self._on_image, CAMERA_QOS)
        self.active_image_pub = self.create_publisher(Image, "/goals/active_image", LATCHED_QOS)
        self.active_name_pub = self.create_publisher(String, "/goals/active_name", LATCHED_QOS)
        self.create_service(CaptureGoal, "/goals/capture", self._srv_capture)
        self.create_service(SetGoal, "/goals/set_active", self._srv_set)
        self.create_service(ListGoals, "/goals/list", self._srv_list)
        self.create_service(DeleteGoal, "/goals/delete", self._srv_delete)
        self.create_service(GetGoal, "/goals/get", self._srv_get)
        # interactive-marker server
        ns = p["marker_namespace"].rstrip("/")
        self.server_id = f"{self.get_fully_qualified_name()}/{uuid.uuid4().hex[:8]}"
        self.seq = 0
        self.update_pub = self.create_publisher(InteractiveMarkerUpdate, f"{ns}/update", 100)
        self.create_subscription(
            InteractiveMarkerFeedback, f"{ns}/feedback", self._on_feedback, 100
        )
        self.create_service(
            GetInteractiveMarkers, f"{ns}/get_interactive_markers", self._srv_get_markers
        )
        self.create_timer(1.0, self._keep_alive)
        self.plan_client = ActionClient(self, PlanToGoal, p["plan_action"])
        self.stop_client = self.create_client(Trigger, p["stop_service"])
        self.plan_goal_handle = None
        self.last_event = ""
        self._menu_actions: dict[int, MenuAction] = {}
        self._publish_markers()

    # -- library ---------------------------------------------------------------------
    def _on_image(self, msg: Image) -> None:
        try:
            rgb = image_msg_to_rgb8(msg)
        except ValueError as e:
            self.get_logger().warning(f"camera frame rejected: {e}", throttle_duration_sec=2.0)
            return
        with self._lock:
            self._frame = rgb

    def capture(self, name: str, overwrite: bool = False) -> str:
        check_goal_name(name)
        with self._lock:
            frame = self._frame
        if frame is None:
            raise ValueError(f"no camera frame received on {self.p['camera_topic']}")
        path = self.library.save(name, frame, overwrite=overwrite)
        self._publish_markers()
        return str(path)

    def set_active(self, name: str) -> None:
        img = self.library.load(name)
        self.active = name
        msg = array_to_image_msg(img, "rgb8")
        msg.header.stamp = self.get_clock().now().to_msg()
        self.active_name_pub.publish(String(data=name))
        self.active_image_pub.publish(msg)
        self._publish_markers()

    def delete(self, name: str) -> None:
        self.library.delete(name)
        if name == self.active:
            self.active = ""
            self.active_name_pub.publish(String(data=""))
        self._publish_markers()

    def _srv_capture(self, req, res):
        try:
            res.path = self.capture(req.name, req.overwrite)
            if req.set_active:
                self.set_active(req.name)
            res.success, res.message = True, f"captured goal {req.name!r}"
        except (ValueError, OSError) as e:
            res.success, res.message = False, str(e)
        return res

    def _srv_set(self, req, res):
        try:
            self.set_active(req.name)
            res.success, res.message = True, f"active goal {req.name!r}"
        except (ValueError, KeyError) as e:
            res.success, res.message = False, str(e).strip("'\"")
        return res

    def _srv_list(self, _req, res):
        res.names, res.active = self.library.names(), self.active
        return res

    def _srv_delete(self, req, res):
        try:
            self.delete(req.name)
            res.success, res.message = True, f"deleted goal {req.name!r}"
        except (ValueError, KeyError) as e:
            res.success, res.message = False, str(e).strip("'\"")
        return res

    def _srv_get(self, req, res):
        try:
            res.image = array_to_image_msg(self.library.load(req.name), "rgb8")
            res.success = True
        except (ValueError, KeyError) as e:
            res.success, res.message = False, str(e).strip("'\"")
        return res

    # -- interactive markers ---------------------------------------------------------
    def _marker(self) -> InteractiveMarker:
        names = self.library.names()
        entries, self._menu_actions = build_menu(names)
        im = InteractiveMarker(
            name="goal_menu", scale=0.2, description=f"goal: {self.active or '(none)'}"
        )
        im.header.frame_id = self.p["marker_frame"]
        x, y, z = (float(v) for v in self.p["marker_xyz"])
        im.pose.position.x, im.pose.position.y, im.pose.position.z = x, y, z
        im.pose.orientation.w = 1.0
        im.menu_entries = entries
        box = Marker(type=Marker.CUBE)
        box.scale.x = box.scale.y = box.scale.z = 0.08
        box.color.r, box.color.g, box.color.b, box.color.a = 0.2, 0.4, 0.9, 0.8
        box.pose.orientation.w = 1.0
        ctrl = InteractiveMarkerControl(
            name="menu",
            interaction_mode=InteractiveMarkerControl.MENU,
            always_visible=True,
            markers=[box],
        )
        ctrl.orientation.w = 1.0
        im.controls = [ctrl]
        return im

    def _publish_markers(self) -> None:
        self.seq += 1
        upd = InteractiveMarkerUpdate(
            server_id=self.server_id,
            seq_num=self.seq,
            type=InteractiveMarkerUpdate.UPDATE,
            markers=[self._marker()],
        )
        self.update_pub.publish(upd)

    def _keep_alive(self) -> None:
        self.update_pub.publish(
            InteractiveMarkerUpdate(
                server_id=self.server_id, seq_num=self.seq, type=InteractiveMarkerUpdate.KEEP_ALIVE
            )
        )

    def _srv_get_markers(self, _req, res):
        res.sequence_number = self.seq
        res.markers = [self._marker()]
        return res

    def _on_feedback(self, fb: InteractiveMarkerFeedback) -> None:
        if fb.event_type != InteractiveMarkerFeedback.MENU_SELECT or fb.marker_name != "goal_menu":
            return
        act = self._menu_actions.get(fb.menu_entry_id)
        if act is None:
            self.get_logger().warning(f"unknown menu entry {fb.menu_entry_id}")
            return
        try:
            if act.kind == "set":
                self.set_active(act.goal)
            elif act.kind == "capture":
                name = time.strftime("goal_%Y%m%d_%H%M%S")
                self.capture(name)
                self.set_active(name)
            elif act.kind == "plan":
                self._plan()
            elif act.kind == "stop":
                self._stop()
            self.last_event = f"{act.kind} {act.goal}".strip()
            self.get_logger().info(f"menu: {self.last_event}")
        except (ValueError, KeyError, OSError) as e:
            self.get_logger().error(f"menu action {act.kind} failed: {e}")

    def _plan(self) -> None:
        if not self.active:
            raise ValueError("no active goal: choose 'Set goal: NAME' first")
        goal = self._PlanToGoal.Goal(goal_names=[self.active])
        if int(self.p["step_budget"]) > 0:
            goal.step_budgets = [int(self.p["step_budget"])]
        if not self.plan_client.server_is_ready():
            raise ValueError(f"planner action {self.p['plan_action']} is not available")
        fut = self.plan_client.send_goal_async(goal)
        fut.add_done_callback(lambda f: setattr(self, "plan_goal_handle", f.result()))

    def _stop(self) -> None:
        if self.stop_client.service_is_ready():
            self.stop_client.call_async(Trigger.Request())
        if self.plan_goal_handle is not None:
            self.plan_goal_handle.cancel_goal_async()


def main(argv: list[str] | None = None) -> int:
    from vjepa2_planner_node.ros_common import init_process, run_nodes

    signals = init_process("goal_selector", sys.argv if argv is None else ["goal_selector", *argv])
    try:
        node = GoalSelectorNode()
    except ParamError as e:
        print(f"goal_selector: {e}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    except KeyboardInterrupt:
        rclpy.try_shutdown()
        return 0
    run_nodes([node], signals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
