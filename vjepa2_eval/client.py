"""ROS client that drives evaluation episodes against a running stack.

It uses only the stack's public interfaces: the bridge's ``/franka/execute_delta`` to
set up scenes (move to a goal pose, grasp), ``/sim/...`` ground truth to build goals and
judge outcomes, the camera topic to photograph goal images, and the planner's
``/planner/plan_to_goal`` action for the episode itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from vjepa2_planner_node.ros_env import ensure_ros_env

ensure_ros_env()

import rclpy  # noqa: E402
from geometry_msgs.msg import PoseStamped  # noqa: E402
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Float64MultiArray  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from vjepa2_interfaces.action import ExecuteDelta, PlanToGoal  # noqa: E402

from vjepa2_eval.frame_log import FrameLog  # noqa: E402
from vjepa2_planner_node.image_codec import image_msg_to_rgb8  # noqa: E402
from vjepa2_planner_node.interrupts import interrupt_on_signals  # noqa: E402
from vjepa2_planner_node.ros_common import (  # noqa: E402
    CAMERA_QOS,
    ActionClient,
    array_to_ee_delta,
    ee_delta_to_array,
)
from vjepa2_world_model.evaluation.tasks import StepRecord, split_move  # noqa: E402


class EvalError(RuntimeError):
    """The stack did not respond as an evaluation needs (timeout, rejected goal...)."""


class EvalClient(Node):
    """Thin ROS side of the evaluation; spins in a background thread."""

    def __init__(self, camera_topic: str = "/camera/image_raw", max_step: float = 0.1) -> None:
        super().__init__("vjepa2_eval")
        self.max_step = max_step
        self._lock = threading.Lock()
        self._image: Image | None = None
        self._image_time = 0.0
        self._gt: dict[str, np.ndarray] = {}
        self._state: np.ndarray | None = None
        self._svc_clients: dict[str, Any] = {}
        self.create_subscription(Image, camera_topic, self._on_image, CAMERA_QOS)
        self.create_subscription(Float64MultiArray, "/franka/ee_state", self._on_state, 10)
        for name in ("cube", "cup", "ee"):
            topic = "/sim/ee_pose" if name == "ee" else f"/sim/{name}/pose"
            self.create_subscription(PoseStamped, topic, lambda m, n=name: self._on_gt(n, m), 10)
        self.exec_client = ActionClient(self, ExecuteDelta, "/franka/execute_delta")
        self.plan_client = ActionClient(self, PlanToGoal, "/planner/plan_to_goal")
        self.frame_log = FrameLog(self, camera_topic)  # planner-input frames, for videos
        self._executor = MultiThreadedExecutor(num_threads=4)
        self._executor.add_node(self)
        self._thread = threading.Thread(target=self._executor.spin, daemon=True)
        self._thread.start()

    # ----------------------------------------------------------------- inputs
    def _on_image(self, msg: Image) -> None:
        with self._lock:
            self._image, self._image_time = msg, time.monotonic()

    def _on_state(self, msg: Float64MultiArray) -> None:
        if len(msg.data) == 7:
            with self._lock:
                self._state = np.asarray(msg.data, float)

    def _on_gt(self, name: str, msg: PoseStamped) -> None:
        p, q = msg.pose.position, msg.pose.orientation
        with self._lock:
            self._gt[name] = np.array([p.x, p.y, p.z, q.w, q.x, q.y, q.z])

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Block until camera, state, ground truth and both actions are up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                have = self._image is not None and self._state is not None and "ee" in self._gt
            if have and self.exec_client.server_is_ready() and self.plan_client.server_is_ready():
                return
            time.sleep(0.2)
        raise EvalError(
            "stack not ready: need camera, /franka/ee_state, /sim ground truth, "
            "/franka/execute_delta and /planner/plan_to_goal"
        )

    def state(self) -> np.ndarray:
        with self._lock:
            if self._state is None:
                raise EvalError("no /franka/ee_state received")
            return self._state.copy()

    def gt(self, name: str) -> np.ndarray:
        """Ground-truth pose [x,y,z,qw,qx,qy,qz] of cube / cup / ee (evaluation only)."""
        with self._lock:
            if name not in self._gt:
                raise EvalError(f"no ground truth for {name!r} on /sim")
            return self._gt[name].copy()

    def fresh_image(self, settle_s: float = 0.4, timeout: float = 5.0) -> Image:
        """A camera frame received after ``settle_s`` from now (the scene has settled)."""
        t0 = time.monotonic() + settle_s
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._image is not None and self._image_time > t0:
                    return self._image
            time.sleep(0.02)
        raise EvalError("no fresh camera frame")

    def rgb(self, msg: Image) -> np.ndarray:
        return image_msg_to_rgb8(msg)

    # ---------------------------------------------------------------- actions
    def _wait(self, future: Any, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > deadline:
                raise EvalError(f"timeout waiting for {what}")
            time.sleep(0.01)
        return future.result()

    def execute(self, delta7: np.ndarray, timeout: float = 30.0) -> Any:
        """Send one delta through the bridge (its safety limits apply) and wait."""
        goal = ExecuteDelta.Goal()
        goal.delta = array_to_ee_delta(np.asarray(delta7, float), frame_id="base")
        handle = self._wait(self.exec_client.send_goal_async(goal), timeout, "execute goal")
        if not handle.accepted:
            raise EvalError("bridge rejected the delta")
        result = self._wait(handle.get_result_async(), timeout, "execute result").result
        if not result.success:
            raise EvalError(f"bridge failed: {result.message}")
        return result

    def move_to(self, xyz: np.ndarray, gripper: float | None = None) -> np.ndarray:
        """Translate the hand to ``xyz`` in pieces (orientation kept), then set the gripper."""
        for _ in range(3):  # re-read the state: each piece lands within ~1 mm
            delta = np.asarray(xyz, float) - self.state()[:3]
            if np.linalg.norm(delta) < 0.003:
                break
            for piece in split_move(delta, self.max_step):
                self.execute(np.concatenate([piece, np.zeros(4)]))
        if gripper is not None:
            self.set_gripper(gripper)
        return self.state()

    def set_gripper(self, closed: float) -> None:
        """Open (0) or close (1) the gripper through the delta's gripper channel."""
        dg = 1.0 if closed > 0.5 else -1.0
        self.execute(np.array([0, 0, 0, 0, 0, 0, dg], float))

    def call_service(self, srv_type: Any, name: str, request: Any, timeout: float = 20.0) -> Any:
        """Call service ``name`` and wait; EvalError when it is missing or does not answer."""
        client = self._svc_clients.get(name)
        if client is None:
            client = self._svc_clients[name] = self.create_client(srv_type, name)
        if not client.wait_for_service(timeout_sec=timeout):
            raise EvalError(f"service {name} not available")
        return self._wait(client.call_async(request), timeout, name)

    def place_objects(self, cube: list[float] | None, cup: list[float] | None) -> None:
        """Place objects at given poses ([] / None = random) via the sim cell's service."""
        req = SetParameters.Request()
        for name, value in (("cube_pose", cube), ("cup_pose", cup)):
            req.parameters.append(
                Parameter(
                    name=name,
                    value=ParameterValue(
                        type=ParameterType.PARAMETER_DOUBLE_ARRAY,
                        double_array_value=[float(v) for v in (value or [])],
                    ),
                )
            )
        self.call_service(SetParameters, "/sim_cell/set_parameters", req)
        res = self.call_service(Trigger, "/sim/place_objects", Trigger.Request())
        if not res.success:
            raise EvalError(f"/sim/place_objects failed: {res.message}")

    def plan(
        self,
        goal_images: list[Image],
        budgets: list[int],
        names: list[str],
        on_step: Callable[[StepRecord], None] | None = None,
        timeout: float = 900.0,
        track: str | None = None,
    ) -> tuple[Any, list[StepRecord]]:
        """Run PlanToGoal with goal images; returns (result, per-step records). ``track``
        names an object whose ground-truth position each record keeps (for the judge)."""
        records: list[StepRecord] = []

        def feedback(msg: Any) -> None:
            fb = msg.feedback
            a = fb.action
            with self._lock:
                grip = float(self._state[6]) if self._state is not None else float("nan")
            rec = StepRecord(
                step=int(fb.step),
                goal_index=int(fb.goal_index),
                energy=float(fb.energy),
                action=ee_delta_to_array(a).tolist(),
                plan_ms=float(fb.plan_ms),
                step_ms=float(fb.step_ms),
                ee_xyz=self.gt("ee")[:3].tolist(),
                gripper=grip,
                obj_xyz=self.gt(track)[:3].tolist() if track else [],
            )
            records.append(rec)
            if on_step is not None:
                on_step(rec)

        goal = PlanToGoal.Goal()
        goal.goal_images = list(goal_images)
        goal.goal_names = list(names)
        goal.step_budgets = [int(b) for b in budgets]
        self.frame_log.begin(goal.goal_images, goal.goal_names)
        fut = self.plan_client.send_goal_async(goal, feedback_callback=feedback)
        handle = self._wait(fut, 30.0, "PlanToGoal acceptance")
        if not handle.accepted:
            raise EvalError("planner rejected the PlanToGoal goal")
        result = self._wait(handle.get_result_async(), timeout, "PlanToGoal result").result
        time.sleep(0.3)  # let the last ground-truth pose arrive
        self.frame_log.end()
        return result, records

    def close(self) -> None:
        """Stop spinning, wait for the spin thread, then destroy the node: destroying it
        while the executor still waits on its entities leaves a failed task behind
        ("exception was never retrieved: cannot use Destroyable") at exit."""
        self._executor.shutdown(timeout_sec=5.0)
        self._thread.join(timeout=5.0)
        self.destroy_node()


def start_client(**kwargs: Any) -> EvalClient:
    """rclpy.init (once) and an EvalClient spinning in the background.

    rclpy's own SIGINT/SIGTERM handlers would only shut its context down, leaving the
    evaluation waiting on futures that never complete; instead both signals raise
    KeyboardInterrupt in the main thread, so the caller's ``finally`` stops the stack."""
    if not rclpy.ok():
        from rclpy.signals import SignalHandlerOptions

        rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    interrupt_on_signals()
    return EvalClient(**kwargs)
