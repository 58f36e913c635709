"""Direct-stepping simulator of the cell: no libfranka, no ROS, faster than real time.

Same scene as the franky-sim server (``scene.build_scene_xml``), so rendered images match
the live cell.  The arm is driven like the bridge drives the real robot: a smooth
(minimum-jerk) Cartesian path from the current to the target pose, tracked by
damped-least-squares IK (MuJoCo Jacobians) feeding joint position servos with gravity
compensation; the Franka hand grasps with physics (force-limited finger servo).

    sim = DirectSim()                       # or DirectSim(load_config(path))
    sim.reset(seed=0)                       # random cube/cup placement, arm home, gripper open
    img = sim.render(256, 256)              # uint8 (256, 256, 3), camera "ext_cam"
    s = sim.ee_state7()                     # [x y z roll pitch yaw grip]
    s = sim.move_ee_delta([0.05, 0, 0, 0, 0, 0, 0])   # blocking; returns the new state7
    sim.object_poses()                      # {"cube": [x y z qw qx qy qz], "cup": ...}
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

from ..pose import apply_delta, as_vector7, rotation_angle, state7_from_pose
from ..robot.kinematics import FRANKA_HAND_MAX_WIDTH, gripper_closure, gripper_command, min_jerk
from ..robot.safety import SafetyLimits
from .config import load_config
from .render import OffscreenRenderer, stacked_views
from .scene import (
    ARM_JOINTS,
    FINGER_JOINTS,
    OBJECT_NAMES,
    PREFIX,
    TCP_SITE,
    build_scene_xml,
    object_qpos_addresses,
    parse_object_pose,
    sample_object_poses,
)

_EYE6 = np.eye(6)
_EYE7 = np.eye(7)


def _rotvec(rot: np.ndarray) -> np.ndarray:
    """Rotation vector of a rotation matrix (fast path through MuJoCo)."""
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(rot).reshape(9))
    vel = np.empty(3)
    mujoco.mju_quat2Vel(vel, quat, 1.0)
    return vel


@dataclass
class MoveResult:
    """Outcome of the last ``move_ee_delta``."""

    state: np.ndarray  # state7 after the motion
    target: np.ndarray  # commanded state7 (after safety clamp)
    executed: np.ndarray  # the action actually executed (after safety clamp)
    clamped: bool
    position_error: float  # m, |target - reached|
    rotation_error: float  # rad
    sim_time: float  # simulated seconds the motion took
    message: str


class DirectSim:
    """Bulk data simulator; see the module docstring."""

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        *,
        timestep: float = 0.002,
        control_dt: float = 0.01,
        max_linear_vel: float = 0.25,
        max_angular_vel: float = 1.2,
        min_move_time: float = 0.15,
        max_settle_time: float = 0.6,
        settle_tol: float = 0.0005,
        gripper_threshold: float = 0.2,
        grasp_force: float = 40.0,
        safety: SafetyLimits | None = None,
        shadows: bool | None = None,
    ) -> None:
        self.cfg = load_config() if config is None else config
        self.model = mujoco.MjModel.from_xml_string(build_scene_xml(self.cfg, gravcomp=True))
        m = self.model
        m.opt.timestep = float(timestep)
        self.data = mujoco.MjData(m)
        self._ik = mujoco.MjData(m)
        self.control_dt = float(control_dt)
        self._substeps = max(1, round(control_dt / timestep))
        self.max_linear_vel = float(max_linear_vel)
        self.max_angular_vel = float(max_angular_vel)
        self.min_move_time = float(min_move_time)
        self.max_settle_time = float(max_settle_time)
        self.settle_tol = float(settle_tol)
        self.gripper_threshold = float(gripper_threshold)
        self.safety = safety if safety is not None else SafetyLimits()
        self.home_q = np.asarray(self.cfg["robot"]["home_q"], dtype=np.float64)
        self.rng = np.random.default_rng()
        self.last_result: MoveResult | None = None

        jid = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in ARM_JOINTS]
        self._arm_qadr = np.array([m.jnt_qposadr[j] for j in jid])
        self._arm_dadr = np.array([m.jnt_dofadr[j] for j in jid])
        self._q_lo = m.jnt_range[jid, 0] + 0.01
        self._q_hi = m.jnt_range[jid, 1] - 0.01
        fid = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in FINGER_JOINTS]
        self._finger_qadr = np.array([m.jnt_qposadr[j] for j in fid])
        self._finger_dadr = np.array([m.jnt_dofadr[j] for j in fid])
        self._site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, TCP_SITE)
        self._obj_qadr = object_qpos_addresses(m)
        self._obj_dadr = {
            n: int(m.jnt_dofadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, f"{n}_joint")])
            for n in OBJECT_NAMES
        }
        self._arm_act = np.array(
            [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_ACTUATOR, n) for n in ARM_JOINTS]
        )
        self._hand_act = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_ACTUATOR, f"{PREFIX}hand")
        # Arm: the MJCF position servos (kp/kv of the FR3 model) + gravity compensation.
        kp_arm = m.actuator_gainprm[self._arm_act, 0]
        kv_arm = -m.actuator_biasprm[self._arm_act, 2]
        self._servo_lead = 0.7 * kv_arm / kp_arm
        # Hand: force-limited servo on the finger tendon (length = width / 2).
        kp_h, kv_h = 2000.0, 600.0
        m.actuator_gainprm[self._hand_act, :3] = [kp_h, 0.0, 0.0]
        m.actuator_biasprm[self._hand_act, :3] = [0.0, -kp_h, -kv_h]
        m.actuator_ctrlrange[self._hand_act] = [0.0, FRANKA_HAND_MAX_WIDTH / 2]
        m.actuator_forcerange[self._hand_act] = [-2 * grasp_force, 2 * grasp_force]
        m.actuator_forcelimited[self._hand_act] = 1

        shadows = self.cfg["render"]["shadows"] if shadows is None else shadows
        self.renderer = OffscreenRenderer(
            m, shadows=bool(shadows), composites=stacked_views(self.cfg["cameras"])
        )
        self.camera = str(self.cfg["render"].get("camera", "ext_cam"))
        self._q_des = self.home_q.copy()
        self._grip_closed = False
        self.reset(seed=0)

    # ------------------------------------------------------------------ state
    @property
    def time(self) -> float:
        """Simulated time (s) since the last reset."""
        return float(self.data.time)

    def joint_positions(self) -> np.ndarray:
        """Arm joint angles (7,)."""
        return self.data.qpos[self._arm_qadr].copy()

    def gripper_width(self) -> float:
        return float(self.data.qpos[self._finger_qadr].sum())

    def ee_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """TCP position (3,) and rotation matrix (3,3) in the robot base frame."""
        mujoco.mj_kinematics(self.model, self.data)
        return (
            self.data.site_xpos[self._site].copy(),
            self.data.site_xmat[self._site].reshape(3, 3).copy(),
        )

    def ee_state7(self) -> np.ndarray:
        """[x, y, z, roll, pitch, yaw (extrinsic xyz), gripper 0..1 (1 = closed)]."""
        pos, rot = self.ee_pose()
        return state7_from_pose(pos, rot, gripper_closure(self.gripper_width()))

    def object_poses(self) -> dict[str, np.ndarray]:
        """Ground truth: name -> [x, y, z, qw, qx, qy, qz] (robot base frame)."""
        return {n: self.data.qpos[a : a + 7].copy() for n, a in self._obj_qadr.items()}

    # ------------------------------------------------------------------ reset
    def sample_object_poses(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Random non-overlapping placements in the spawn region (upright, random yaw)."""
        return sample_object_poses(self.cfg, rng)

    def reset(
        self,
        seed: int | None = None,
        object_poses: dict[str, Any] | None = None,
        home_q: Any | None = None,
        settle_time: float = 0.3,
    ) -> np.ndarray:
        """Arm to home, gripper open, objects placed; returns the state7.

        ``object_poses`` maps "cube"/"cup" to [x, y], [x, y, z] or [x, y, z, qw, qx, qy, qz];
        objects not given are placed at random (``seed`` makes it reproducible).
        """
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        poses = self.sample_object_poses(self.rng)
        for name, value in (object_poses or {}).items():
            poses[name] = parse_object_pose(name, value, poses.get(name, np.zeros(7)))
        q0 = self.home_q if home_q is None else np.asarray(home_q, dtype=np.float64)
        if q0.shape != (7,) or not np.all(np.isfinite(q0)):
            raise ValueError("home_q must be 7 finite joint angles")
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self._arm_qadr] = q0
        self.data.qpos[self._finger_qadr] = FRANKA_HAND_MAX_WIDTH / 2
        for name, pose in poses.items():
            a = self._obj_qadr[name]
            self.data.qpos[a : a + 7] = pose
        self._q_des = q0.copy()
        self.data.ctrl[self._arm_act] = q0
        self._grip_closed = False
        self.data.ctrl[self._hand_act] = FRANKA_HAND_MAX_WIDTH / 2
        mujoco.mj_forward(self.model, self.data)
        self._step_time(settle_time)
        self.data.time = 0.0
        return self.ee_state7()

    # ------------------------------------------------------------------ stepping
    def _step_time(self, seconds: float) -> None:
        n = max(0, round(seconds / self.model.opt.timestep))
        if n:
            mujoco.mj_step(self.model, self.data, nstep=n)

    def step(self, seconds: float) -> None:
        """Let the physics run with the current commands held."""
        self._step_time(seconds)

    def _solve_ik(
        self, q: np.ndarray, pos_t: np.ndarray, rot_t: np.ndarray, iters: int, tol: float = 1e-5
    ) -> np.ndarray:
        m, d = self.model, self._ik
        jacp = np.zeros((3, m.nv))
        jacr = np.zeros((3, m.nv))
        q = q.copy()
        lam2 = 1e-4
        for _ in range(iters):
            d.qpos[self._arm_qadr] = q
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            err_p = pos_t - d.site_xpos[self._site]
            rot = d.site_xmat[self._site].reshape(3, 3)
            err_r = _rotvec(rot_t @ rot.T)
            err = np.concatenate([err_p, err_r])
            if np.linalg.norm(err) < tol:
                break
            mujoco.mj_jacSite(m, d, jacp, jacr, self._site)
            jac = np.vstack([jacp[:, self._arm_dadr], jacr[:, self._arm_dadr]])
            pinv = jac.T @ np.linalg.inv(jac @ jac.T + lam2 * _EYE6)
            dq = pinv @ err
            dq += (_EYE7 - pinv @ jac) @ (0.1 * (self.home_q - q))
            q = np.clip(q + dq, self._q_lo, self._q_hi)
        return q

    def _set_gripper(self, cmd: str | None) -> bool:
        if cmd is None or (cmd == "close") == self._grip_closed:
            return False
        self._grip_closed = cmd == "close"
        self.data.ctrl[self._hand_act] = 0.0 if self._grip_closed else FRANKA_HAND_MAX_WIDTH / 2
        return True

    def move_ee_delta(self, action7: Any) -> np.ndarray:
        """Execute one 7-D delta (blocking) and return the new state7.

        The target pose is relative to the measured pose; the safety limits
        (``self.safety``) clamp or reject it.  The gripper channel closes (grasp) when
        > +gripper_threshold and opens when < -gripper_threshold.  Details of the motion
        are in ``self.last_result``.  Raises ValueError on a malformed or rejected action.
        """
        action = as_vector7(action7)
        state0 = self.ee_state7()
        decision = self.safety.check(state0, action)
        if not decision.accepted:
            raise ValueError(f"action rejected: {decision.message}")
        action = decision.action
        t_start = self.time
        pos0, rot0 = self.ee_pose()
        pos1, rot1 = apply_delta(pos0, rot0, action)
        rel = Rotation.from_matrix(rot1 @ rot0.T).as_rotvec()
        dist = float(np.linalg.norm(pos1 - pos0))
        angle = float(np.linalg.norm(rel))
        duration = max(self.min_move_time, dist / self.max_linear_vel, angle / self.max_angular_vel)
        gripper_moving = self._set_gripper(gripper_command(action[6], self.gripper_threshold))
        n_ticks = max(1, math.ceil(duration / self.control_dt))
        q_des = self.joint_positions() if dist + angle > 0 else self._q_des
        for k in range(1, n_ticks + 1):
            s = min_jerk(k / n_ticks)
            pos_k = pos0 + s * (pos1 - pos0)
            rot_k = Rotation.from_rotvec(s * rel).as_matrix() @ rot0
            q_prev = q_des
            q_des = self._solve_ik(q_des, pos_k, rot_k, iters=2 if k < n_ticks else 50)
            # Servo target with velocity feed-forward: kp(q_d - q) + kv(dq_d - dq).
            dq_des = (q_des - q_prev) / self.control_dt if k < n_ticks else 0.0
            self.data.ctrl[self._arm_act] = q_des + self._servo_lead * dq_des
            mujoco.mj_step(self.model, self.data, nstep=self._substeps)
        self.data.ctrl[self._arm_act] = q_des
        self._q_des = q_des
        # Settle: pose reached and arm (and fingers, if they moved) at rest.
        t_settle = self.time
        max_settle = self.max_settle_time + (1.0 if gripper_moving else 0.0)
        while self.time - t_settle < max_settle:
            pos, rot = self.ee_pose()
            rot_ok = rotation_angle(rot, rot1) < 1e-3
            still = np.abs(self.data.qvel[self._arm_dadr]).max() < 0.03
            fingers = np.abs(self.data.qvel[self._finger_dadr]).max() < 0.002
            done_grip = not gripper_moving or (fingers and self.time - t_start > 0.15)
            if np.linalg.norm(pos - pos1) < self.settle_tol and rot_ok and still and done_grip:
                break
            mujoco.mj_step(self.model, self.data, nstep=self._substeps)
        pos, rot = self.ee_pose()
        state = self.ee_state7()
        target = state7_from_pose(pos1, rot1, 1.0 if self._grip_closed else 0.0)
        self.last_result = MoveResult(
            state=state,
            target=target,
            executed=action,
            clamped=decision.clamped,
            position_error=float(np.linalg.norm(pos - pos1)),
            rotation_error=rotation_angle(rot, rot1),
            sim_time=self.time - t_start,
            message=decision.message,
        )
        return state

    # ------------------------------------------------------------------ render
    def render(self, width: int = 256, height: int = 256, camera: str | None = None) -> np.ndarray:
        """uint8 (height, width, 3) RGB image of ``camera`` (default: the config's
        ``render.camera``, what the cell's camera topic publishes) from the current state."""
        return self.renderer.render(camera or self.camera, width, height, source=self.data)

    def close(self) -> None:
        self.renderer.close()
