"""planner_node: receding-horizon CEM towards goal images, one EE delta per step.

Serves ``/planner/plan_to_goal`` (vjepa2_interfaces/action/PlanToGoal) with per-step
feedback, sends each delta to the bridge's ``/franka/execute_delta`` (ExecuteDelta
action) and waits for it, re-plans from the next camera frame; stops on the energy
threshold, step budget, cancel (also ``/planner/stop``, std_srvs/Trigger) or a fault;
holds (sends nothing, status ``holding``) while camera/state are stale and resumes when
they return, for at most ``hold_timeout_s`` (default 10 s; <= 0 = forever). Reads the
bridge's ``/franka/status``: a "fault: ..." / "stopped: ..." there fails the goal with
that reason (also while holding: a goal never resumes by itself after a robot fault).
One goal at a time: a request arriving while one runs is accepted and ended at once
(aborted, "already planning: ..."), so every request gets an answer; any error while
handling a goal aborts it with a message naming the error. Publishes ``/planner/status``
(PlannerStatus), the planned EE motion and a status text on ``/planner/planned_motion``
(visualization_msgs/MarkerArray) and every commanded delta on ``/planner/ee_delta``
(EEDelta, so bags hold the commands).

The process also hosts world_model_node (``world_model``) sharing one WorldModelCore,
so a planning step never crosses a process boundary: the ROS work per step is one
image decode, one action round trip and a few small messages.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import rclpy
import torch
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker, MarkerArray

from vjepa2_planner_node.goal_library import GoalLibrary
from vjepa2_planner_node.image_codec import image_msg_to_rgb8
from vjepa2_planner_node.params import CEMSettings, ParamError, check_positive, load_readout
from vjepa2_planner_node.ros_common import (
    LATCHED_QOS,
    STATUS_QOS,
    ActionClient,
    action_service_qos,
    array_to_ee_delta,
    declare,
    init_process,
    run_nodes,
)
from vjepa2_planner_node.ros_env import require_interfaces
from vjepa2_planner_node.world_model_node import WorldModelNode, exit_code
from vjepa2_world_model.planning.agent import (
    EXECUTING,
    HOLDING,
    IDLE,
    GoalRun,
    Observation,
    StepReport,
    WorldModelCore,
    expand_budgets,
    make_planner,
    run_goals,
)
from vjepa2_world_model.robot.franka_control import ExecutionResult

PLANNER_PARAMS = {
    "goals_dir": "goals",
    "step_budget": 10,
    "energy_threshold": 0.0,
    "preset": "cpu",  # vjepa2_world_model.planning preset: cpu | reference | paper
    "horizon": 0,  # 0 = the preset's value (also samples, iterations, elites)
    "samples": 0,
    "iterations": 0,
    "elites": 0,
    "seed": 0,
    # hold rule (PlannerConfig.hold_margin / gripper_margin): NaN = the preset's value;
    # a ROS double cannot be None, so < 0 = off (gripper_margin: < 0 = hold_margin)
    "hold_margin": math.nan,
    "gripper_margin": math.nan,
    # sub-goal switching: fixed step budgets (the paper); with switch_patience > 0 also
    # move on once the observed energy has not improved by switch_min_improvement for
    # that many steps
    "switch_patience": 0,
    "switch_min_improvement": 0.0,
    # energy = visual L1 + state_alpha * |planned state - readout(goal image)| (0 = paper);
    # readout "" = <world_model checkpoint dir>/readout.safetensors
    "state_alpha": 0.0,
    "readout": "",
    "execute_action": "/franka/execute_delta",
    "execute_timeout_s": 30.0,
    "hold_timeout_s": 10.0,  # fail a goal held this long for stale inputs; <= 0 = forever
    "bridge_status_topic": "/franka/status",
    "base_frame": "fr3_link0",
    "active_goal_name_topic": "/goals/active_name",
}


class PlannerNode(Node):
    """PlanToGoal action server over agent.run_goals (vjepa2_world_model.planning)."""

    def __init__(self, core: WorldModelCore, name: str = "planner", **kwargs) -> None:
        super().__init__(name, **kwargs)
        require_interfaces()
        from vjepa2_interfaces.action import ExecuteDelta, PlanToGoal
        from vjepa2_interfaces.msg import PlannerStatus

        self._PlanToGoal, self._ExecuteDelta, self._Status = PlanToGoal, ExecuteDelta, PlannerStatus
        p = declare(self, PLANNER_PARAMS)
        self.p = p
        if int(p["step_budget"]) <= 0:
            raise ParamError("step_budget", f"must be a positive integer, got {p['step_budget']}")
        for k in ("horizon", "samples", "iterations", "elites"):
            if int(p[k]) < 0:
                raise ParamError(k, f"must be >= 0 (0 = preset value), got {p[k]}")
        check_positive(p["execute_timeout_s"], "execute_timeout_s")
        self.core = core
        self.library = GoalLibrary(p["goals_dir"])
        self.cem = CEMSettings(
            preset=str(p["preset"]),
            horizon=int(p["horizon"]),
            samples=int(p["samples"]),
            iterations=int(p["iterations"]),
            elites=int(p["elites"]),
            seed=int(p["seed"]),
            hold_margin=float(p["hold_margin"]),
            gripper_margin=float(p["gripper_margin"]),
            state_alpha=float(p["state_alpha"]),
            readout=str(p["readout"]),
        )
        self.cem.planner_config()  # fail now (naming the parameter) if the preset is bad
        if int(p["switch_patience"]) < 0 or float(p["switch_min_improvement"]) < 0:
            raise ParamError(
                "switch_patience", "switch_patience and switch_min_improvement must be >= 0"
            )
        self.readout = None
        if self.cem.state_alpha < 0:
            raise ParamError("state_alpha", f"must be >= 0, got {self.cem.state_alpha}")
        if self.cem.state_alpha > 0:
            path = self.cem.readout or str(Path(core.checkpoint or ".") / "readout.safetensors")
            self.readout = load_readout(path, core.device)
            self.get_logger().info(f"state energy: alpha {self.cem.state_alpha}, readout {path}")
        self._goal_mtimes: dict[str, float] = {}
        self._active_name = ""
        self._stop = threading.Event()
        self._wakeups: set[threading.Event] = set()  # waits that a cancel / stop ends
        self._busy = threading.Lock()
        self._shutting_down = ""
        self._last_exec_done = -math.inf
        self._obs_stamp_ns = 0
        self._bridge_status = ""
        self.create_subscription(String, p["bridge_status_topic"], self._on_bridge_status, 10)
        self.status_pub = self.create_publisher(PlannerStatus, "~/status", STATUS_QOS)
        self.motion_pub = self.create_publisher(MarkerArray, "~/planned_motion", 1)
        from vjepa2_interfaces.msg import EEDelta

        self.delta_pub = self.create_publisher(EEDelta, "~/ee_delta", 10)
        self.create_subscription(
            String, p["active_goal_name_topic"], self._on_active_name, LATCHED_QOS
        )
        io_group = ReentrantCallbackGroup()
        self.exec_client = ActionClient(
            self, ExecuteDelta, p["execute_action"], callback_group=io_group
        )
        self.server = ActionServer(
            self,
            PlanToGoal,
            "~/plan_to_goal",
            execute_callback=self._execute,
            goal_callback=self._on_goal,
            cancel_callback=self._on_cancel,
            callback_group=ReentrantCallbackGroup(),
            result_timeout=120,
            **action_service_qos(),
        )
        self.create_service(
            Trigger, "~/stop", self._on_stop, callback_group=MutuallyExclusiveCallbackGroup()
        )
        self._publish_status(StepReport(0, 0, "", IDLE, message="ready"))
        self.get_logger().info(f"ready: {self.get_fully_qualified_name()}/plan_to_goal serves")

    # -- process shutdown (ros_common.run_nodes) -------------------------------------
    def begin_shutdown(self, reason: str) -> None:
        """End a running goal (its client gets an aborted result) and refuse new ones."""
        self._shutting_down = reason
        self._stop.set()
        self._wake_waiters()

    def shutdown_ready(self) -> bool:
        return not self._busy.locked()

    # -- small callbacks -------------------------------------------------------------
    def _on_active_name(self, msg: String) -> None:
        self._active_name = msg.data

    def _on_bridge_status(self, msg: String) -> None:
        self._bridge_status = msg.data

    def _bridge_fault(self) -> str | None:
        """The bridge's fault / latched stop from /franka/status, or None."""
        text = self._bridge_status
        if text.startswith(("fault", "stopped")):
            return f"bridge reports {text}"
        return None

    def _on_stop(self, _req, res):
        self._stop.set()
        self._wake_waiters()
        res.success, res.message = True, "stop requested"
        return res

    def _on_cancel(self, _goal_handle) -> CancelResponse:
        self._wake_waiters()  # a running motion's wait re-checks goal_handle's cancel flag
        return CancelResponse.ACCEPT

    def _on_goal(self, _goal) -> GoalResponse:
        if self._shutting_down:
            self.get_logger().warning("rejecting PlanToGoal: the planner is shutting down")
            return GoalResponse.REJECT
        # Otherwise always accept: a goal arriving while one runs ends at once with a
        # reason ("already planning"), a REJECT could carry none.
        return GoalResponse.ACCEPT

    # -- goals -----------------------------------------------------------------------
    def _library_goal(self, name: str) -> torch.Tensor:
        path = self.library.path(name)
        mtime = path.stat().st_mtime if path.is_file() else None
        if mtime is None:
            raise KeyError(f"no goal named {name!r} in {self.library.root}")
        if self._goal_mtimes.get(name) != mtime or name not in self.core.goals:
            self.core.set_goal(name, self.library.load(name))
            self._goal_mtimes[name] = mtime
        return self.core.goal(name)

    def _resolve_goals(self, req) -> list[tuple[str, torch.Tensor]]:
        goals = []
        if len(req.goal_images):
            for i, img in enumerate(req.goal_images):
                label = req.goal_names[i] if i < len(req.goal_names) else f"image{i}"
                z = self.core.set_goal(f"request:{label}", image_msg_to_rgb8(img))
                goals.append((label, z))
        elif len(req.goal_names):
            goals = [(n, self._library_goal(n)) for n in req.goal_names]
        elif self._active_name:
            goals = [(self._active_name, self._library_goal(self._active_name))]
        elif (z_active := self.core.active_goal()) is not None:
            goals = [("active", z_active)]
        else:
            raise ValueError("no goal given and no active goal set")
        return goals

    # -- the action ------------------------------------------------------------------
    def _execute(self, goal_handle):
        result = self._PlanToGoal.Result()
        if not self._busy.acquire(blocking=False):
            goal_handle.abort()
            result.message = "already planning: another PlanToGoal is running (one at a time)"
            self.get_logger().warning(f"PlanToGoal ended: {result.message}")
            return result
        try:
            return self._execute_locked(goal_handle, result)
        except Exception as e:
            result.success = False
            result.message = f"goal failed: {type(e).__name__}: {e}"
            self.get_logger().error(result.message)
            if goal_handle.is_active:
                goal_handle.abort()
            self._publish_status(StepReport(0, 0, "", "failed", message=result.message))
            return result
        finally:
            self._busy.release()

    def _execute_locked(self, goal_handle, result):
        """Run one goal (the caller holds ``_busy``)."""
        self._stop.clear()
        req = goal_handle.request
        try:
            goals = self._resolve_goals(req)
            budgets = expand_budgets(len(goals), list(req.step_budgets), int(self.p["step_budget"]))
        except (ValueError, KeyError, OSError) as e:
            goal_handle.abort()
            result.message = f"bad goal request: {e}"
            self._publish_status(StepReport(0, 0, "", "failed", message=result.message))
            return result
        threshold = (
            req.energy_threshold if req.energy_threshold > 0 else float(self.p["energy_threshold"])
        )
        self._request_ctx = (len(goals), sum(budgets))

        def cancelled() -> bool:
            return goal_handle.is_cancel_requested or self._stop.is_set()

        def report(r: StepReport) -> None:
            self._publish_status(r)
            if r.state == "step_done":
                fb = self._PlanToGoal.Feedback(
                    step=r.step,
                    goal_index=r.goal_index,
                    goal_name=r.goal_name,
                    energy=float(r.energy),
                    plan_ms=r.plan_ms,
                    execute_ms=r.execute_ms,
                    step_ms=r.step_ms,
                )
                fb.action = array_to_ee_delta(r.action, self.p["base_frame"])
                goal_handle.publish_feedback(fb)

        hold_timeout = float(self.p["hold_timeout_s"])
        run = GoalRun(
            observe=self._observe,
            observed_energy=lambda obs, zg: self.core.observed_energy(obs.z, zg),
            plan=make_planner(
                self.core, self.cem.planner_config(), self.cem.state_energy(self.readout)
            ),
            execute=lambda a: self._execute_delta(a, cancelled),
            cancelled=cancelled,
            report=report,
            hold_timeout_s=hold_timeout if hold_timeout > 0 else math.inf,
            fault=self._bridge_fault,
        )
        out = run_goals(
            run,
            goals,
            budgets,
            threshold,
            int(self.p["switch_patience"]),
            float(self.p["switch_min_improvement"]),
        )
        result.success, result.final_energy = out.success, float(out.final_energy)
        result.steps, result.goals_reached, result.message = (
            out.steps,
            out.goals_reached,
            out.message,
        )
        if self._shutting_down and not out.success:
            result.message = f"planner shutting down ({self._shutting_down}): {out.message}"
        if out.state == "canceled" and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif out.success:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result

    def _observe(self, after_seq: int) -> Observation | str:
        """A frame received after the last executed motion, or why there is none."""
        obs = self.core.obs.wait_for_frame(
            after_seq, self._last_exec_done, self.core.obs.stale_after
        )
        if isinstance(obs, str):
            return obs
        self._obs_stamp_ns = obs.stamp_ns
        return replace(obs, z=self.core.encode_frame(obs))

    def _execute_delta(self, action: np.ndarray, cancelled) -> ExecutionResult:
        goal = self._ExecuteDelta.Goal(
            # header.stamp = stamp of the camera frame this delta was planned from
            delta=array_to_ee_delta(
                action,
                self.p["base_frame"],
                Time(sec=self._obs_stamp_ns // 10**9, nanosec=self._obs_stamp_ns % 10**9),
            ),
            timeout=float(self.p["execute_timeout_s"]),
        )
        self.delta_pub.publish(goal.delta)  # commands are recorded as a topic too
        if not self.exec_client.wait_for_server(timeout_sec=2.0):
            return ExecutionResult(False, f"no ExecuteDelta server at {self.p['execute_action']}")
        if cancelled():
            return ExecutionResult(False, "canceled before the motion")
        try:
            # never abandon a sent goal: wait for its handle so a cancel can reach the bridge
            send = self.exec_client.send_goal_async(goal)
            if not self._wait(send, 5.0):
                return ExecutionResult(False, "bridge did not answer the delta goal")
            handle = send.result()
            if not handle.accepted:
                return ExecutionResult(False, "bridge rejected the delta")
            res_future = handle.get_result_async()
            if not self._wait(res_future, float(self.p["execute_timeout_s"]), cancelled):
                if cancelled():
                    self._wait(handle.cancel_goal_async(), 2.0)
                    # the bridge accepts the cancel before the arm has stopped (ramp-down,
                    # settle): wait for its result so "canceled" means the arm is at rest
                    self._wait(res_future, 5.0)
                    return ExecutionResult(False, "canceled during motion")
                handle.cancel_goal_async()
                return ExecutionResult(False, "bridge timed out")
            r = res_future.result().result
            return ExecutionResult(
                bool(r.success),
                r.message,
                bool(r.clamped),
                state=np.asarray(r.state) if len(r.state) else None,
            )
        finally:
            self._last_exec_done = time.monotonic()

    def _wait(self, future, timeout: float, cancelled=None) -> bool:
        """Block until ``future`` is done (True), or ``timeout`` s passed or ``cancelled()``
        (False). Woken by the future's done callback and by cancel / stop requests
        (``_wakeups``), no sleep-polling; a 50 ms re-check covers a done callback delayed
        by a busy executor and the cancel flag rclpy sets just after the cancel callback."""
        woken = threading.Event()
        future.add_done_callback(lambda _f: woken.set())
        if cancelled is not None:
            self._wakeups.add(woken)
        try:
            deadline = time.monotonic() + timeout
            while not future.done():
                if cancelled is not None and cancelled():
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                woken.wait(min(left, 0.05))
                woken.clear()
            return True
        finally:
            self._wakeups.discard(woken)

    def _wake_waiters(self) -> None:
        for ev in list(self._wakeups):
            ev.set()

    # -- outputs ---------------------------------------------------------------------
    def _publish_status(self, r: StepReport) -> None:
        n_goals, budget = getattr(self, "_request_ctx", (0, 0))
        msg = self._Status(
            state="executing" if r.state == "step_done" else r.state,
            step=r.step,
            step_budget=budget,
            goal_index=r.goal_index,
            num_goals=n_goals,
            goal_name=r.goal_name,
            energy=float(r.energy if not math.isnan(r.energy) else r.observed_energy),
            plan_ms=float(r.plan_ms),
            execute_ms=float(r.execute_ms),
            step_ms=float(r.step_ms),
            message=r.message,
        )
        if r.state == "step_done":
            msg.state = "executing"
            msg.ros_overhead_ms = float(r.step_ms - r.plan_ms - r.execute_ms)
        else:
            msg.ros_overhead_ms = math.nan
        if r.state == HOLDING:
            self.get_logger().warning(f"holding: {r.message}", throttle_duration_sec=2.0)
        msg.header.stamp = self.get_clock().now().to_msg()
        self.status_pub.publish(msg)
        self._publish_status_text(msg)
        if r.state == EXECUTING and r.planned is not None:
            self._publish_motion(r.planned)

    def _publish_status_text(self, st) -> None:
        """Planner status as a text marker above the table (RViz shows no custom msgs)."""
        m = Marker(ns="planner_status", id=0, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD)
        m.header.frame_id = self.p["base_frame"]
        m.header.stamp = st.header.stamp
        m.pose.position.x, m.pose.position.z = 0.4, 0.7
        m.pose.orientation.w = 1.0
        m.scale.z = 0.04
        m.color.r = m.color.g = m.color.b = m.color.a = 1.0
        m.text = (
            f"{st.state}  goal {st.goal_index + 1}/{st.num_goals} {st.goal_name}  "
            f"step {st.step}/{st.step_budget}  E={st.energy:.4f}  {st.message}"
        )
        self.motion_pub.publish(MarkerArray(markers=[m]))

    def _publish_motion(self, actions: np.ndarray) -> None:
        _, state = self.core.obs.latest()
        if state is None:
            return
        pts = state[:3] + np.concatenate([np.zeros((1, 3)), np.cumsum(actions[:, :3], 0)])
        m = Marker(ns="planned_ee", id=0, type=Marker.LINE_STRIP, action=Marker.ADD)
        m.header.frame_id = self.p["base_frame"]
        m.header.stamp = self.get_clock().now().to_msg()
        m.scale.x = 0.005
        m.color.r, m.color.g, m.color.b, m.color.a = 0.1, 0.8, 0.2, 1.0
        m.pose.orientation.w = 1.0
        m.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in pts]
        tip = Marker(ns="planned_ee", id=1, type=Marker.SPHERE, action=Marker.ADD)
        tip.header = m.header
        tip.pose.position = m.points[-1]
        tip.pose.orientation.w = 1.0
        tip.scale.x = tip.scale.y = tip.scale.z = 0.02
        tip.color = m.color
        self.motion_pub.publish(MarkerArray(markers=[m, tip]))


def main(argv: list[str] | None = None) -> int:
    """planner_node process: world_model + planner nodes sharing one model."""
    signals = init_process("planner_node", sys.argv if argv is None else ["planner_node", *argv])
    try:
        wm = WorldModelNode()
        planner = PlannerNode(wm.core)
    except ParamError as e:
        print(f"planner_node: {e}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    except KeyboardInterrupt:  # stopped while loading the model
        rclpy.try_shutdown()
        signals.finished()
        return 0
    run_nodes([wm, planner], signals)
    return exit_code([wm])


if __name__ == "__main__":
    sys.exit(main())
