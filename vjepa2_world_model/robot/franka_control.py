"""libfranka (pylibfranka) execution logic for 7-D end-effector deltas, no ROS.

``FrankaController`` owns the connection to ``robot_ip`` (real FR3 or franky-sim) in a
robot thread: it keeps a fresh ``RobotSnapshot`` (pose, joints, gripper), executes deltas
as smooth Cartesian pose motions (minimum-jerk position + slerp rotation, continuous
velocity, peak speed <= ``MotionLimits``), drives the Franka hand from the delta's gripper
channel (``kinematics.gripper_command``: grasp with a width smaller than the object /
open = move), enforces ``SafetyLimits`` on every command, stops within
``MotionLimits.stop_time`` on ``stop()`` / cancel, and survives faults: a lost
connection or control exception marks the controller faulted, commands are refused,
and it reconnects + runs automatic error recovery when the robot is back.

Ownership rules (the arm obeys one client at a time):
- one motion at a time: ``execute`` while another motion is queued or running returns
  at once with "busy: ..." (nothing is queued behind a running motion);
- every delta is checked by ``SafetyLimits`` against the current pose when it arrives
  and again against the pose the motion actually starts from (a clamp there shrinks it);
- ``stop()`` halts the motion, waits (bounded) until the arm is at rest and latches:
  every command is refused ("stopped ... call resume") until ``resume()``;
- the measured TCP pose is computed from the measured joint angles (``fr3_kinematics``,
  see there why the state's ``O_T_EE`` is not used); while moving and while holding,
  a measured position farther than ``MotionLimits.tracking_tolerance`` sideways from
  the motion's straight commanded path (pushed off it), or drifting that far while
  holding, stops the motion and latches the fault "tracking error ..." (also on
  ``fault``) until ``resume()``;
- an arm that comes to rest on its path but short of the command (blocked by an object
  under the fingers, the table: contact is part of grasping) ends the motion holding
  where it stopped, with no force towards the old command: result "blocked: ..."
  (``blocked=True``), not a fault;
- the goal timeout must be finite, 0 (= ``default_timeout``) .. ``max_timeout`` s:
  anything else is refused by name before anything moves.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vjepa2_world_model.pose import euler_to_rotvec, state7_from_pose
from vjepa2_world_model.robot.fr3_kinematics import tcp_pose
from vjepa2_world_model.robot.kinematics import (
    FRANKA_HAND_MAX_WIDTH,
    gripper_closure,
    gripper_command,
    min_jerk,
)
from vjepa2_world_model.robot.safety import SafetyLimits

# Peak/mean speed ratio of the minimum-jerk profile.
_MJ_PEAK = 1.875


@dataclass
class MotionLimits:
    """Cartesian motion limits and timing of the bridge."""

    max_linear_vel: float = 0.15  # m/s, peak
    max_angular_vel: float = 0.6  # rad/s, peak
    min_duration: float = 0.3  # s per delta
    stop_time: float = 0.1  # s, deceleration to rest on stop/cancel/timeout
    default_timeout: float = 20.0  # s, whole delta incl. gripper (goal timeout <= 0)
    settle_time: float = 0.05  # s, hold the final pose before reporting done
    max_timeout: float = 600.0  # s, largest goal timeout a client may ask for
    tracking_tolerance: float = 0.02  # m, measured TCP off the commanded straight path
    stop_wait: float = 1.5  # s, stop() waits at most this long for the arm to be at rest
    settle_tolerance: float = 0.002  # m, "done" once the measured TCP is this close ...
    settle_timeout: float = 3.0  # s, ... at most (robot time) for the arm to get there
    blocked_after: float = 0.4  # s at rest (robot time) still > tracking_tolerance short
    # of the command = blocked (contact): the arm holds where it stopped

    def duration(self, dist: float, angle: float) -> float:
        return max(
            self.min_duration,
            _MJ_PEAK * dist / self.max_linear_vel,
            _MJ_PEAK * angle / self.max_angular_vel,
        )


@dataclass
class GripperConfig:
    threshold: float = 0.2  # |dgripper| above this closes (>0) / opens (<0)
    grasp_width: float = 0.0  # grasp target: smaller than any object
    grasp_force: float = 40.0  # N
    speed: float = 0.05  # m/s
    epsilon: float = 0.08  # grasp tolerance (accept any stop width)
    open_width: float = FRANKA_HAND_MAX_WIDTH


@dataclass
class RobotSnapshot:
    """Latest robot + gripper state (robot base frame)."""

    stamp: float  # time.monotonic() of the read
    O_T_EE: np.ndarray  # 4x4 TCP pose from the measured joints (fr3_kinematics)
    q: np.ndarray
    dq: np.ndarray
    gripper_width: float
    gripper_max_width: float
    robot_mode: str

    def state7(self) -> np.ndarray:
        return state7_from_pose(
            self.O_T_EE[:3, 3],
            self.O_T_EE[:3, :3],
            gripper_closure(self.gripper_width, self.gripper_max_width),
        )


@dataclass
class ExecutionResult:
    """Outcome of executing one EE delta (the bridge returns these fields over its
    ExecuteDelta action; the planning agent's execute hook reports one)."""

    success: bool
    message: str = ""
    clamped: bool = False
    rejected: bool = False
    blocked: bool = False  # stopped short of the command at rest (contact); holds there
    executed: np.ndarray | None = None  # action after the safety clamp
    state: np.ndarray | None = None  # state7 after the motion


@dataclass
class _Request:
    action: np.ndarray
    timeout: float
    progress: Callable[[float], None] | None
    cancel: threading.Event
    done: threading.Event = field(default_factory=threading.Event)
    result: ExecutionResult | None = None


def _pose_matrix(flat16: object) -> np.ndarray:
    return np.asarray(flat16, dtype=np.float64).reshape(4, 4, order="F")


def measured_tcp(state: object) -> np.ndarray:
    """4x4 TCP pose from the measured joint angles and the state's ``F_T_EE``."""
    return tcp_pose(np.asarray(state.q, dtype=np.float64), _pose_matrix(state.F_T_EE))


class FrankaController:
    """See the module docstring.  Thread-safe; ``execute`` blocks the calling thread."""

    def __init__(
        self,
        robot_ip: str,
        safety: SafetyLimits | None = None,
        limits: MotionLimits | None = None,
        gripper: GripperConfig | None = None,
        log: Callable[[str, str], None] | None = None,
        reconnect_period: float = 1.0,
    ) -> None:
        self.robot_ip = robot_ip
        self.safety = safety or SafetyLimits()
        self.limits = limits or MotionLimits()
        self.gripper_cfg = gripper or GripperConfig()
        self._log_cb = log
        self.reconnect_period = float(reconnect_period)
        self._lock = threading.Lock()
        self._snapshot: RobotSnapshot | None = None
        self._gripper_width = FRANKA_HAND_MAX_WIDTH
        self._gripper_max = FRANKA_HAND_MAX_WIDTH
        self._robot = None
        self._gripper = None
        self._fault: str | None = "not connected yet"
        self._requests: queue.Queue[_Request] = queue.Queue()
        self._active: _Request | None = None
        self._claim = threading.Lock()  # one motion at a time (held from accept to done)
        self._latched: str | None = None  # "stopped ..." / "tracking error ..." until resume
        self._hold_pos: np.ndarray | None = None  # commanded TCP position while idle
        self.last_tracking_error = 0.0  # m, largest in the last motion
        self._stop_motion = threading.Event()
        self._running = False
        self._thread: threading.Thread | None = None
        self._gripper_cmd: queue.Queue = queue.Queue()
        self._gripper_thread: threading.Thread | None = None
        self.events: list[str] = []  # rejections / faults, newest last (bounded)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._robot_loop, name="franka-robot", daemon=True)
        self._thread.start()
        self._gripper_thread = threading.Thread(
            target=self._gripper_loop, name="franka-gripper", daemon=True
        )
        self._gripper_thread.start()

    def shutdown(self) -> None:
        """End the robot and gripper threads and close the connection (idempotent)."""
        self._running = False
        self._stop_motion.set()
        for t in (self._thread, self._gripper_thread):
            if t is not None:
                t.join(timeout=3.0)
        if self._thread is None or not self._thread.is_alive():
            self._robot = None  # drops pylibfranka's connection

    def _log(self, level: str, msg: str) -> None:
        if level in ("warn", "error"):
            self.events.append(msg)
            del self.events[:-100]
        if self._log_cb is not None:
            try:
                self._log_cb(level, msg)
            except Exception:
                pass

    # ------------------------------------------------------------------ status
    @property
    def connected(self) -> bool:
        return self._robot is not None and self._fault is None

    @property
    def fault(self) -> str | None:
        """Connection fault, else a latched tracking fault, else None."""
        if self._fault is not None:
            return self._fault
        latched = self._latched
        return latched if latched is not None and latched.startswith("tracking") else None

    @property
    def latched(self) -> str | None:
        """Why commands are refused until ``resume()`` (stop or tracking fault), or None."""
        return self._latched

    @property
    def busy(self) -> bool:
        return self._active is not None or self._claim.locked()

    def snapshot(self) -> RobotSnapshot | None:
        with self._lock:
            return self._snapshot

    def state7(self) -> np.ndarray | None:
        snap = self.snapshot()
        return None if snap is None else snap.state7()

    # ------------------------------------------------------------------ commands
    def stop(self) -> bool:
        """Halt the motion, wait until the arm is at rest (<= ``stop_wait``), latch.

        Returns True if a motion was active or queued.  Commands are refused until
        ``resume()``.
        """
        self._latched = "stopped by /franka/stop: call /franka/resume to move again"
        active = self._active
        self._stop_motion.set()
        if active is not None:
            active.cancel.set()
        dropped = False
        while True:  # queued, not started requests are dropped
            try:
                req = self._requests.get_nowait()
            except queue.Empty:
                break
            dropped = True
            req.result = ExecutionResult(False, "stopped before execution")
            req.done.set()
        if active is not None:
            active.done.wait(self.limits.stop_wait + self.limits.stop_time + 0.5)
        return active is not None or dropped

    def resume(self) -> str:
        """Release a latched stop / tracking fault; returns what was released."""
        released, self._latched = self._latched, None
        self._stop_motion.clear()
        self._hold_pos = None  # re-read at the next idle cycle
        if released:
            self._log("info", f"resumed (was: {released})")
        return released or "nothing was latched"

    def _check_timeout(self, timeout: object) -> float | str:
        """The timeout to use, or why ``timeout`` is refused."""
        lim = self.limits
        try:
            t = float(timeout)
        except (TypeError, ValueError):
            return f"timeout {timeout!r} is not a number"
        if not math.isfinite(t) or t < 0 or t > lim.max_timeout:
            return (
                f"timeout {t!r} s refused: must be finite, 0 (= {lim.default_timeout:g} s "
                f"default) .. {lim.max_timeout:g} s"
            )
        return t if t > 0 else lim.default_timeout

    def execute(
        self,
        action: object,
        timeout: float = 0.0,
        progress: Callable[[float], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ExecutionResult:
        """Execute one 7-D delta, blocking until done, rejected, stopped or timed out."""
        checked = self._check_timeout(timeout)
        if isinstance(checked, str):
            self._log("warn", f"command refused: {checked}")
            return ExecutionResult(False, f"rejected: {checked}", rejected=True)
        if not self._claim.acquire(blocking=False):
            return ExecutionResult(
                False,
                "busy: another motion is running (one motion at "
                "a time: wait for its result or cancel it)",
                rejected=True,
            )
        try:
            return self._execute_claimed(action, checked, progress, cancel)
        finally:
            self._claim.release()

    def _execute_claimed(
        self,
        action: object,
        timeout: float,
        progress: Callable[[float], None] | None,
        cancel: threading.Event | None,
    ) -> ExecutionResult:
        if not self.connected:
            msg = f"robot not available: {self._fault or 'not connected'}"
            self._log("warn", f"command refused: {msg}")
            return ExecutionResult(False, msg, rejected=True)
        latched = self._latched
        if latched is not None:
            self._log("warn", f"command refused: {latched}")
            return ExecutionResult(False, f"refused: {latched}", rejected=True)
        snap = self.snapshot()
        if snap is None:
            return ExecutionResult(False, "no robot state yet", rejected=True)
        decision = self.safety.check(snap.state7(), action)
        if not decision.accepted:
            self._log("warn", f"command rejected: {decision.message}")
            return ExecutionResult(
                False, f"rejected: {decision.message}", rejected=True, state=snap.state7()
            )
        if decision.clamped:
            self._log("warn", f"command clamped: {decision.message}")
        req = _Request(decision.action, timeout, progress, cancel or threading.Event())
        self._requests.put(req)
        if not req.done.wait(timeout + 5.0):
            req.cancel.set()
            req.done.wait(5.0)
        result = req.result or ExecutionResult(False, "bridge did not finish the motion")
        result.clamped = decision.clamped or result.clamped
        result.executed = req.action  # as re-checked against the start pose
        if decision.clamped and result.success:
            result.message = f"{result.message} (clamped: {decision.message})"
        return result

    # ------------------------------------------------------------------ robot thread
    def _connect(self) -> bool:
        import pylibfranka as pf

        try:
            robot = pf.Robot(self.robot_ip, pf.RealtimeConfig.kIgnore)
            try:
                robot.automatic_error_recovery()
            except Exception as exc:
                self._log("info", f"error recovery on connect: {exc}")
            state = robot.read_once()
        except Exception as exc:
            if self._fault is None or not self._fault.startswith("robot unreachable"):
                self._log("error", f"robot unreachable at {self.robot_ip}: {exc}")
            self._fault = f"robot unreachable at {self.robot_ip}: {exc}"
            return False
        self._robot = robot
        self._update(state)
        self._hold_pos = None
        self._fault = None
        self._log("info", f"connected to robot at {self.robot_ip}")
        return True

    def _disconnect(self, reason: str) -> None:
        self._fault = reason
        self._robot = None
        self._log("error", f"robot fault: {reason}; reconnecting")

    def _update(self, state: object) -> np.ndarray:
        tcp = measured_tcp(state)
        snap = RobotSnapshot(
            stamp=time.monotonic(),
            O_T_EE=tcp,
            q=np.asarray(state.q, dtype=np.float64),
            dq=np.asarray(state.dq, dtype=np.float64),
            gripper_width=self._gripper_width,
            gripper_max_width=self._gripper_max,
            robot_mode=str(state.robot_mode),
        )
        with self._lock:
            self._snapshot = snap
        return tcp

    def _check_hold(self, tcp: np.ndarray) -> None:
        """Idle tracking check: the arm must stay where the last motion left it."""
        if self._hold_pos is None:
            self._hold_pos = tcp[:3, 3].copy()
            return
        err = float(np.linalg.norm(tcp[:3, 3] - self._hold_pos))
        if err > self.limits.tracking_tolerance and not (self._latched or "").startswith(
            "tracking"
        ):
            self._latch_tracking(
                f"tracking error while holding: measured TCP "
                f"{np.round(tcp[:3, 3], 3).tolist()} is {err:.3f} m from "
                f"the commanded {np.round(self._hold_pos, 3).tolist()}"
            )

    def _latch_tracking(self, msg: str) -> None:
        self._latched = f"{msg}; call /franka/resume after clearing the cause"
        self._log("error", f"robot fault: {self._latched}")

    def _robot_loop(self) -> None:
        next_try = 0.0
        while self._running:
            if self._robot is None:
                if time.monotonic() < next_try:
                    self._fail_pending("robot not available: " + (self._fault or ""))
                    time.sleep(0.05)
                    continue
                next_try = time.monotonic() + self.reconnect_period
                if not self._connect():
                    continue
            try:
                req = self._requests.get_nowait()
            except queue.Empty:
                req = None
            try:
                if req is not None:
                    self._active = req
                    try:
                        req.result = self._run_motion(req)
                    finally:
                        self._active = None
                        req.done.set()
                else:
                    self._check_hold(self._update(self._robot.read_once()))
                    time.sleep(0.008)  # ~100 Hz state while idle
            except Exception as exc:
                name = type(exc).__name__
                if req is not None and req.result is None:
                    req.result = ExecutionResult(False, f"robot fault during motion: {exc}")
                    req.done.set()
                if name == "ControlException" or "Reflex" in str(exc):
                    self._log("error", f"control exception: {exc}; automatic error recovery")
                    try:
                        self._robot.automatic_error_recovery()
                        continue
                    except Exception as exc2:
                        exc = exc2
                self._disconnect(f"{name}: {exc}")

    def _fail_pending(self, msg: str) -> None:
        while True:
            try:
                req = self._requests.get_nowait()
            except queue.Empty:
                return
            req.result = ExecutionResult(False, msg, rejected=True)
            req.done.set()

    # ------------------------------------------------------------------ gripper thread
    def _gripper_loop(self) -> None:
        import pylibfranka as pf

        gripper = None
        while self._running:
            if gripper is None:
                if self._robot is None:
                    time.sleep(0.1)
                    continue
                try:
                    gripper = pf.Gripper(self.robot_ip)
                except Exception:
                    time.sleep(self.reconnect_period)
                    continue
            try:
                cmd, done = self._gripper_cmd.get(timeout=0.05)
            except queue.Empty:
                cmd, done = None, None
            try:
                if cmd is not None:
                    g = self.gripper_cfg
                    if cmd == "close":
                        ok = gripper.grasp(
                            g.grasp_width, g.speed, g.grasp_force, g.epsilon, g.epsilon
                        )
                    else:
                        ok = gripper.move(g.open_width, g.speed)
                    done["ok"] = bool(ok)
                gs = gripper.read_once()
                self._gripper_width = float(gs.width)
                if gs.max_width > 0.01:
                    self._gripper_max = float(gs.max_width)
            except Exception as exc:
                if done is not None:
                    done["error"] = str(exc)
                gripper = None
                time.sleep(0.2)
            finally:
                if done is not None:
                    done["event"].set()

    def _start_gripper(self, cmd: str) -> dict:
        done = {"event": threading.Event()}
        self._gripper_cmd.put((cmd, done))
        return done

    # ------------------------------------------------------------------ motion
    def _run_motion(self, req: _Request) -> ExecutionResult:
        import pylibfranka as pf

        if req.cancel.is_set() or self._latched is not None:
            return ExecutionResult(False, f"refused: {self._latched or 'canceled'}", rejected=True)
        robot = self._robot
        t_wall0 = time.monotonic()
        ctrl = robot.start_cartesian_pose_control(pf.ControllerMode.JointImpedance)
        state, _ = ctrl.readOnce()
        measured = self._update(state)
        start = _pose_matrix(state.O_T_EE_c)
        if (
            not np.all(np.isfinite(start))
            or np.linalg.norm(start[:3, 3] - measured[:3, 3]) > self.limits.tracking_tolerance
            or _angle(start[:3, :3], measured[:3, :3]) > 0.05
        ):
            start = measured  # the robot's commanded pose is not where the arm is
        p0, r0 = start[:3, 3].copy(), start[:3, :3].copy()
        # Re-check against the pose this motion really starts from.
        closure = gripper_closure(self._gripper_width, self._gripper_max)
        decision = self.safety.check(state7_from_pose(p0, r0, closure), req.action)
        if not decision.accepted:
            ctrl.writeOnce(_finished(start))
            del ctrl
            self._log("warn", f"command rejected at motion start: {decision.message}")
            return ExecutionResult(
                False, f"rejected: {decision.message}", rejected=True, state=self.state7()
            )
        clamped = not np.allclose(decision.action, req.action)
        if clamped:
            self._log("warn", f"command clamped at motion start: {decision.message}")
        req.action = decision.action
        g_cmd = gripper_command(float(req.action[6]), self.gripper_cfg.threshold)
        g_done = self._start_gripper(g_cmd) if g_cmd is not None else None
        if g_cmd is not None:
            self._log("info", f"gripper {g_cmd}")
        p1 = p0 + req.action[:3]
        tol = self.limits.tracking_tolerance
        worst = 0.0
        last_cmd = p0.copy()
        rel = euler_to_rotvec(req.action[3:6])
        dist, angle = float(np.linalg.norm(req.action[:3])), float(np.linalg.norm(rel))
        # Rodrigues terms of the relative rotation: R(s) = I + sin(s a) K + (1 - cos(s a)) K^2.
        axis = rel / angle if angle > 1e-12 else np.zeros(3)
        k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
        k_r0, kk_r0 = k @ r0, k @ k @ r0
        pose = np.eye(4)
        cycle = 0
        duration = self.limits.duration(dist, angle)
        total = duration + self.limits.settle_time
        t = 0.0
        stopping: tuple[float, float, float] | None = None  # (t_stop, s_stop, sdot_stop)
        reason = ""
        finished = False
        last_progress = -1.0
        while not finished:
            state, dt = ctrl.readOnce()
            t += dt.to_sec()
            cycle += 1
            if cycle % 10 == 0 or cycle == 1:  # published state fresh at 100 Hz
                tcp = self._update(state)
                err = _segment_distance(tcp[:3, 3], p0, p1)
                worst = max(worst, err)
                if err > tol and stopping is None:
                    reason = (
                        f"tracking error: measured TCP {np.round(tcp[:3, 3], 3).tolist()} "
                        f"is {err:.3f} m off the commanded path "
                        f"{np.round(p0, 3).tolist()} -> {np.round(p1, 3).tolist()} "
                        f"(tolerance {tol:.3f} m)"
                    )
                    self._latch_tracking(reason)
            if stopping is None:
                if req.cancel.is_set() or self._stop_motion.is_set():
                    reason = "stopped"
                elif time.monotonic() - t_wall0 > req.timeout:
                    reason = f"timed out after {req.timeout:.1f} s"
                if reason:
                    stopping = (t, _s_at(t, duration), _sdot(t, duration))
            if stopping is None:
                s = _s_at(t, duration)
                finished = t >= total
            else:
                t_s, s_s, v_s = stopping
                t_stop = self.limits.stop_time
                x = min(t - t_s, t_stop) / t_stop
                # Smooth ramp-down, sdot = v_s (1 - 3x^2 + 2x^3): no velocity jump, zero
                # acceleration at rest; s = s_s + v_s T (x - x^3 + x^4 / 2).
                s = min(1.0, s_s + v_s * t_stop * (x - x**3 + 0.5 * x**4))
                finished = t - t_s >= self.limits.stop_time
            pose[:3, 3] = p0 + s * (p1 - p0)
            last_cmd = pose[:3, 3].copy()
            pose[:3, :3] = r0 + math.sin(s * angle) * k_r0 + (1.0 - math.cos(s * angle)) * kk_r0
            cmd = pf.CartesianPose(pose.flatten(order="F").tolist())
            if finished:
                cmd.motion_finished = True
            ctrl.writeOnce(cmd)
            if req.progress is not None and s - last_progress >= 0.05:
                last_progress = s
                req.progress(float(s))
        del ctrl
        if g_done is not None:
            wait = max(0.0, req.timeout - (time.monotonic() - t_wall0))
            if reason:
                wait = 0.0
            if not g_done["event"].wait(wait):
                reason = reason or "gripper timed out"
            elif "error" in g_done:
                reason = reason or f"gripper error: {g_done['error']}"
        state = robot.read_once()
        tcp = self._update(state)
        # Wait until the arm has caught up with the last command (servo lag), also after
        # a stop: stop() answers once the arm is at rest, not just the command.
        # The wait is counted in robot time (a simulator that runs slower than real time
        # on a loaded machine gets the same settling time), capped in wall time.
        settle = (
            min(self.limits.settle_timeout, self.limits.stop_wait)
            if reason
            else (self.limits.settle_timeout)
        )
        robot_t0 = _robot_time(state)
        wall_deadline = time.monotonic() + 4.0 * settle
        last_rot = pose[:3, :3].copy()
        rest_pos, rest_t = tcp[:3, 3].copy(), _robot_time(state)
        while (
            (
                np.linalg.norm(tcp[:3, 3] - last_cmd) > self.limits.settle_tolerance
                or _angle(tcp[:3, :3], last_rot) > 0.005
            )
            and _robot_time(state) - robot_t0 < settle
            and time.monotonic() < wall_deadline
            and self._running
        ):
            time.sleep(0.005)  # the arm is still catching up with the last command
            state = robot.read_once()
            tcp = self._update(state)
            if np.linalg.norm(tcp[:3, 3] - rest_pos) > 0.001:
                rest_pos, rest_t = tcp[:3, 3].copy(), _robot_time(state)
            elif (
                _robot_time(state) - rest_t > self.limits.blocked_after
                and np.linalg.norm(tcp[:3, 3] - last_cmd) > tol
            ):
                break  # at rest, short of the command: something holds the hand
        miss = float(np.linalg.norm(tcp[:3, 3] - last_cmd))
        self.last_tracking_error = worst
        if not reason and miss > tol:
            # Blocked along its path (an object under the fingers, the table): the arm
            # holds where it stopped instead of pressing on towards the command.
            self._hold_here(robot)
            self._hold_pos = tcp[:3, 3].copy()
            msg = (
                f"blocked: stopped {100 * miss:.1f} cm short of the commanded "
                f"{np.round(last_cmd, 3).tolist()} at {np.round(tcp[:3, 3], 3).tolist()} "
                f"(contact); holding there"
            )
            self._log("warn", f"motion {msg}")
            return ExecutionResult(True, msg, clamped=clamped, blocked=True, state=self.state7())
        self._hold_pos = last_cmd
        final = self.state7()
        if reason:
            self._log("warn", f"motion {reason}")
            return ExecutionResult(False, reason, clamped=clamped, state=final)
        return ExecutionResult(True, "done", clamped=clamped, state=final)

    def _hold_here(self, robot: object) -> None:
        """End with the commanded pose at the measured one (no force towards the old
        command): a one-cycle motion that starts and finishes where the arm is."""
        import pylibfranka as pf

        ctrl = robot.start_cartesian_pose_control(pf.ControllerMode.JointImpedance)
        state, _ = ctrl.readOnce()
        ctrl.writeOnce(_finished(self._update(state)))
        del ctrl


def _robot_time(state: object) -> float:
    """The robot's own clock (s) from a state, or the wall clock if it has none."""
    stamp = getattr(state, "time", None)
    return float(stamp.to_sec()) if stamp is not None else time.monotonic()


def _segment_distance(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Distance of point ``x`` from the segment ``a`` -> ``b``."""
    ab = b - a
    n2 = float(ab @ ab)
    s = 0.0 if n2 < 1e-12 else min(1.0, max(0.0, float((x - a) @ ab) / n2))
    return float(np.linalg.norm(x - (a + s * ab)))


def _angle(rot_a: np.ndarray, rot_b: np.ndarray) -> float:
    cos = (np.trace(rot_a.T @ rot_b) - 1.0) / 2.0
    return float(math.acos(min(1.0, max(-1.0, cos))))


def _finished(pose: np.ndarray) -> object:
    import pylibfranka as pf

    cmd = pf.CartesianPose(pose.flatten(order="F").tolist())
    cmd.motion_finished = True
    return cmd


def _s_at(t: float, duration: float) -> float:
    return min_jerk(t / duration) if duration > 0 else 1.0


def _sdot(t: float, duration: float) -> float:
    x = min(max(t / duration, 0.0), 1.0)
    return 30.0 * x * x * (1.0 - x) ** 2 / duration


__all__ = ["ExecutionResult", "FrankaController", "GripperConfig", "MotionLimits", "RobotSnapshot"]
