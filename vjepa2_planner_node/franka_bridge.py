"""Franka controller bridge node: pylibfranka robot <-> ROS 2 (thin wrapper).

``vjepa2 franka-bridge [--ros-args ...]`` / ``python -m vjepa2_planner_node.franka_bridge``.
All robot logic lives in ``franka_control.FrankaController`` and ``safety.SafetyLimits``.

Publishes at ``publish_rate`` Hz (wall-clock stamps, frame ``base_frame``):
``/franka/current_pose`` (PoseStamped, TCP), ``/franka/ee_state`` (Float64MultiArray 7-D:
xyz, extrinsic xyz Euler, gripper 0..1 closed=1), ``/franka/joint_states`` (JointState,
fr3_joint1..7 + fr3_finger_joint1/2); ``/franka/status`` (String "ok" | "ok: executing" |
"stopped: ..." | "fault: ...", 1 Hz and on change); ``/franka/safety_events`` (String,
every rejection/clamp/fault).  The pose is computed from the measured joints
(``fr3_kinematics``).

Serves ``action_name`` (/franka/execute_delta, vjepa2_interfaces/ExecuteDelta): blocking
smooth motion by the delta, result success/clamped/executed/state/message; cancel stops
the robot.  One motion at a time: a goal arriving while another runs is aborted at once
with "busy: ..." (no queue); each delta is re-checked against the pose it starts from.
``/franka/stop`` (std_srvs/Trigger) halts any motion, answers once the arm is at rest and
latches: every goal is refused until ``/franka/resume`` (Trigger), which also releases a
latched tracking fault (measured pose off the commanded path by > ``tracking_tolerance``).
Stop/resume and state publishing run on their own node and executor thread, so a flood
of goals cannot delay them.  Every abort carries a message.

Parameters: robot_ip, publish_rate, base_frame, action_name, safety_mode (clamp|reject),
workspace_min/max [x y z], max_translation, max_rotation, max_linear_vel,
max_angular_vel, min_duration, stop_time, command_timeout, max_timeout,
tracking_tolerance, gripper_threshold, grasp_width, grasp_force, gripper_speed.
The default workspace is inside the FR3's reachable, well-conditioned region with the
hand down (measured with the sim: ``python -m bench.probe_workspace``).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from vjepa2_planner_node.ros_env import ensure_ros_env

ensure_ros_env()

import rclpy  # noqa: E402
import rclpy.executors  # noqa: E402
import rclpy.node  # noqa: E402
from geometry_msgs.msg import PoseStamped  # noqa: E402
from rclpy.action import ActionServer, CancelResponse, GoalResponse  # noqa: E402
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup  # noqa: E402
from rclpy.node import Node  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Float64MultiArray, String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from vjepa2_planner_node.ros_common import DELTA_FIELDS, action_service_qos  # noqa: E402
from vjepa2_world_model.robot.franka_control import (  # noqa: E402
    FrankaController,
    GripperConfig,
    MotionLimits,
)
from vjepa2_world_model.robot.safety import DEFAULT_WORKSPACE, SafetyLimits  # noqa: E402

JOINT_NAMES = [f"fr3_joint{i}" for i in range(1, 8)] + ["fr3_finger_joint1", "fr3_finger_joint2"]

PARAMS: dict[str, Any] = {
    "robot_ip": "127.0.0.1",
    "publish_rate": 50.0,
    "base_frame": "fr3_link0",
    "action_name": "/franka/execute_delta",
    "safety_mode": "clamp",
    "workspace_min": list(DEFAULT_WORKSPACE[0]),
    "workspace_max": list(DEFAULT_WORKSPACE[1]),
    "max_translation": 0.15,
    "max_rotation": 0.8,
    "max_linear_vel": 0.15,
    "max_angular_vel": 0.6,
    "min_duration": 0.3,
    "stop_time": 0.1,
    "command_timeout": 20.0,
    "max_timeout": 600.0,
    "tracking_tolerance": 0.02,
    "gripper_threshold": 0.2,
    "grasp_width": 0.0,
    "grasp_force": 40.0,
    "gripper_speed": 0.05,
}


class CancelRegistry:
    """Cancel events of the running ExecuteDelta goals, keyed by goal id.

    A cancel request can be processed before the goal's execute callback has started (the
    action server accepts the goal, a cancel arrives, then a worker thread runs the
    goal): it is remembered and the goal starts canceled, so the arm never moves for it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[bytes, threading.Event] = {}

    def request(self, key: bytes) -> None:
        """A cancel for goal ``key``: sets its event, or the one it will get."""
        with self._lock:
            self._events.setdefault(key, threading.Event()).set()

    def register(self, key: bytes) -> threading.Event:
        """The cancel event of goal ``key`` (already set if a cancel came first)."""
        with self._lock:
            return self._events.setdefault(key, threading.Event())

    def release(self, key: bytes) -> None:
        with self._lock:
            self._events.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)


class FrankaBridge(Node):
    """ROS wrapper over ``FrankaController``."""

    def __init__(self, start: bool = True) -> None:
        super().__init__("franka_bridge")
        p = {}
        for name, default in PARAMS.items():
            self.declare_parameter(name, default)
            p[name] = self.get_parameter(name).value
        self.p = p
        if not float(p["publish_rate"]) > 0:
            raise ValueError(f"publish_rate must be > 0, got {p['publish_rate']}")
        safety = SafetyLimits(
            workspace_min=tuple(float(v) for v in p["workspace_min"]),
            workspace_max=tuple(float(v) for v in p["workspace_max"]),
            max_translation=float(p["max_translation"]),
            max_rotation=float(p["max_rotation"]),
            mode=str(p["safety_mode"]),
        )
        limits = MotionLimits(
            max_linear_vel=float(p["max_linear_vel"]),
            max_angular_vel=float(p["max_angular_vel"]),
            min_duration=float(p["min_duration"]),
            stop_time=float(p["stop_time"]),
            default_timeout=float(p["command_timeout"]),
            max_timeout=float(p["max_timeout"]),
            tracking_tolerance=float(p["tracking_tolerance"]),
        )
        if (
            not min(
                limits.max_linear_vel,
                limits.max_angular_vel,
                limits.stop_time,
                limits.tracking_tolerance,
            )
            > 0
        ):
            raise ValueError(
                "max_linear_vel, max_angular_vel, stop_time and tracking_tolerance must be > 0"
            )
        if not 0 < limits.default_timeout <= limits.max_timeout < 1e6:
            raise ValueError("need 0 < command_timeout <= max_timeout < 1e6 s")
        gripper = GripperConfig(
            threshold=float(p["gripper_threshold"]),
            grasp_width=float(p["grasp_width"]),
            grasp_force=float(p["grasp_force"]),
            speed=float(p["gripper_speed"]),
        )

        # Stop/resume + state publishing: their own node, spun by its own executor thread
        # (``io_node``), so no load on the action server can delay them.
        self.io_node = rclpy.node.Node("franka_bridge_io")
        self.io_executor: rclpy.executors.Executor | None = None  # spins io_node (main)
        io = self.io_node
        self.pub_pose = io.create_publisher(PoseStamped, "/franka/current_pose", 10)
        self.pub_state = io.create_publisher(Float64MultiArray, "/franka/ee_state", 10)
        self.pub_joints = io.create_publisher(JointState, "/franka/joint_states", 10)
        self.pub_status = io.create_publisher(String, "/franka/status", 10)
        self.pub_events = io.create_publisher(String, "/franka/safety_events", 10)
        self._status_lock = threading.Lock()
        self.controller = FrankaController(
            str(p["robot_ip"]), safety, limits, gripper, log=self._log
        )
        self._cancels = CancelRegistry()
        group = ReentrantCallbackGroup()
        from vjepa2_interfaces.action import ExecuteDelta

        self._ExecuteDelta = ExecuteDelta
        self.action_server = ActionServer(
            self,
            ExecuteDelta,
            str(p["action_name"]),
            execute_callback=self._on_execute,
            goal_callback=lambda _g: GoalResponse.ACCEPT,
            cancel_callback=self._on_cancel,
            callback_group=group,
            result_timeout=300,
            **action_service_qos(),
        )
        io.create_service(
            Trigger, "/franka/stop", self._on_stop, callback_group=MutuallyExclusiveCallbackGroup()
        )
        io.create_service(
            Trigger,
            "/franka/resume",
            self._on_resume,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        io.create_timer(
            1.0 / float(p["publish_rate"]),
            self._publish_state,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        io.create_timer(1.0, self._publish_status, callback_group=MutuallyExclusiveCallbackGroup())
        self._last_status = ""
        if start:
            self.start()

    def start(self) -> None:
        """Connect to the robot (the controller's threads) and go."""
        self.controller.start()
        self.get_logger().info(
            f"franka_bridge: robot {self.p['robot_ip']}, action {self.p['action_name']}"
        )

    # ----------------------------------------------------------------- logging
    def _log(self, level: str, msg: str) -> None:
        logger = self.get_logger()
        # rclpy forbids one call site logging at different severities: one line per level.
        if level == "error":
            logger.error(msg)
        elif level == "warn":
            logger.warning(msg)
        else:
            logger.info(msg)
        if level in ("warn", "error"):
            self.pub_events.publish(String(data=msg))
            self._publish_status()

    # ----------------------------------------------------------------- state
    def _publish_state(self) -> None:
        snap = self.controller.snapshot()
        if snap is None:
            return
        stamp = self.get_clock().now().to_msg()
        frame = self.p["base_frame"]
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp, frame
        t = snap.O_T_EE
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = (
            float(v) for v in t[:3, 3]
        )
        x, y, z, w = Rotation.from_matrix(t[:3, :3]).as_quat()
        o = pose.pose.orientation
        o.x, o.y, o.z, o.w = float(x), float(y), float(z), float(w)
        self.pub_pose.publish(pose)
        self.pub_state.publish(Float64MultiArray(data=snap.state7().tolist()))
        js = JointState()
        js.header.stamp, js.header.frame_id = stamp, frame
        js.name = list(JOINT_NAMES)
        half = snap.gripper_width / 2
        js.position = [float(v) for v in snap.q] + [half, half]
        js.velocity = [float(v) for v in snap.dq] + [0.0, 0.0]
        self.pub_joints.publish(js)

    def status_text(self) -> str:
        c = self.controller
        fault, latched = c.fault, c.latched
        if fault is not None:
            return f"fault: {fault}"
        if latched is not None:
            return latched if latched.startswith("stopped") else f"stopped: {latched}"
        return "ok: executing" if c.busy else "ok"

    def _publish_status(self) -> None:
        with self._status_lock:
            text = self.status_text()
            self.pub_status.publish(String(data=text))
            self._last_status = text

    def _publish_status_if_changed(self) -> None:
        if self.status_text() != self._last_status:
            self._publish_status()

    # ----------------------------------------------------------------- commands
    def _on_stop(self, _req: Trigger.Request, resp: Trigger.Response) -> Trigger.Response:
        was_moving = self.controller.stop()
        resp.success = True
        resp.message = "motion stopped" if was_moving else "robot was not moving"
        self.get_logger().warning(f"stop service: {resp.message}")
        self._publish_status()
        return resp

    def _on_resume(self, _req: Trigger.Request, resp: Trigger.Response) -> Trigger.Response:
        released = self.controller.resume()
        resp.success, resp.message = True, f"resumed; released: {released}"
        self.get_logger().info(f"resume service: {resp.message}")
        self._publish_status()
        return resp

    def _on_cancel(self, goal_handle: Any) -> CancelResponse:
        if goal_handle.is_active:  # kept even if its execute callback has not started yet
            self._cancels.request(bytes(goal_handle.goal_id.uuid))
        return CancelResponse.ACCEPT

    def _on_execute(self, goal_handle: Any) -> Any:
        try:
            return self._execute_goal(goal_handle)
        except Exception as exc:
            msg = f"bridge error: {type(exc).__name__}: {exc}"
            self.get_logger().error(msg)
            result = self._ExecuteDelta.Result()
            result.success, result.message = False, msg
            if goal_handle.is_active:
                goal_handle.abort()
            return result

    def _execute_goal(self, goal_handle: Any) -> Any:
        goal = goal_handle.request
        action = np.array([getattr(goal.delta, f) for f in DELTA_FIELDS], dtype=np.float64)
        key = bytes(goal_handle.goal_id.uuid)
        cancel = self._cancels.register(key)
        feedback = self._ExecuteDelta.Feedback()

        def progress(s: float) -> None:
            feedback.progress = float(s)
            goal_handle.publish_feedback(feedback)

        try:
            r = self.controller.execute(action, float(goal.timeout), progress, cancel)
        finally:
            self._cancels.release(key)
        self._publish_status_if_changed()
        result = self._ExecuteDelta.Result()
        result.success, result.clamped, result.message = bool(r.success), bool(r.clamped), r.message
        executed = r.executed if r.executed is not None else np.zeros(7)
        result.executed.header.frame_id = self.p["base_frame"]
        result.executed.header.stamp = self.get_clock().now().to_msg()
        for f, v in zip(DELTA_FIELDS, executed, strict=True):
            setattr(result.executed, f, float(v))
        if r.state is not None:
            result.state = [float(v) for v in r.state]
        if not result.message:
            result.message = "failed (no reason given)" if not r.success else "done"
        if not r.success:
            self.get_logger().warning(f"delta {np.round(action, 4).tolist()} failed: {r.message}")
        if cancel.is_set() and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif r.success:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result

    # ----------------------------------------------------------------- process shutdown
    def begin_shutdown(self, reason: str) -> None:
        """Stop the arm first (a running delta ends, its client gets the result), then
        end the robot connection, so a simulator stopping at the same time is not
        reported as a fault and reconnected to."""
        if self.controller.stop():
            self.get_logger().warning(f"{reason}: arm motion stopped")
        self.controller.shutdown()

    def shutdown_ready(self) -> bool:
        return not self.controller.busy

    def destroy_node(self) -> None:
        self.controller.shutdown()
        if self.io_executor is not None:  # stop spinning io_node before destroying it
            self.io_executor.shutdown(timeout_sec=2.0)
            self.io_executor = None
        self.io_node.destroy_node()
        super().destroy_node()


def wait_for_sim(signals: Any, timeout: float, host: str, port: int = 1337) -> bool:
    """Wait until the simulator listens on ``host``'s libfranka port, so the first
    connection attempt does not fail ("Connection to FCI refused") while it starts."""
    from vjepa2_planner_node.ros_common import TCP_LISTEN, tcp_sockets

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not signals.stop_reason():
        if tcp_sockets(host, (port,), TCP_LISTEN):
            return True
        time.sleep(0.2)
    return False


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vjepa2 franka-bridge`` / ``python -m vjepa2_planner_node.franka_bridge``.

    ``--wait-for-sim true`` (the bringups pass ``${use_sim}``): wait up to
    ``--wait-for-sim-timeout`` s for the simulated robot before connecting. On SIGINT /
    SIGTERM, or when the parent process is gone, the arm is stopped, then the node exits.
    """
    import argparse

    from vjepa2_planner_node.ros_common import init_process, run_nodes

    args = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(prog="franka_bridge", add_help=False)
    ap.add_argument("--wait-for-sim", default="false")
    ap.add_argument("--wait-for-sim-timeout", type=float, default=120.0)
    own, rest = ap.parse_known_args(args)
    signals = init_process("franka_bridge", ["franka_bridge", *rest])
    node = None
    try:
        node = FrankaBridge(start=False)
        if own.wait_for_sim.strip().lower() in ("true", "1", "yes", "on") and not wait_for_sim(
            signals, own.wait_for_sim_timeout, str(node.p["robot_ip"])
        ):
            if signals.stop_reason():
                raise KeyboardInterrupt
            print(
                f"franka_bridge: no simulated robot listening after "
                f"{own.wait_for_sim_timeout:.0f} s; connecting anyway",
                file=sys.stderr,
            )
        node.start()
    except KeyboardInterrupt:
        if node is not None:
            node.destroy_node()
            node = None
        signals.finished()
        return 0
    except ValueError as exc:
        print(f"franka_bridge: {exc}", file=sys.stderr)
        return 2
    finally:
        if node is None:
            rclpy.try_shutdown()
    # stop / resume / state publishing spin on their own executor thread (``io_node``)
    io_executor = rclpy.executors.MultiThreadedExecutor(num_threads=2)
    io_executor.add_node(node.io_node)
    node.io_executor = io_executor  # destroy_node shuts it down before io_node goes
    threading.Thread(target=io_executor.spin, name="bridge-io", daemon=True).start()
    run_nodes([node], signals, executor=rclpy.executors.MultiThreadedExecutor(num_threads=4))
    return 0


if __name__ == "__main__":
    sys.exit(main())
