"""Simulated Franka cell process: franky-sim server + exterior camera + ground truth (ROS 2).

``vjepa2 sim-cell [--ros-args ...]`` / ``python -m vjepa2_planner_node.sim_cell``.
Starts the franky-sim server (libfranka protocol on ``hostname``; its own child process,
see ``sim/server.py``) and a ROS node ``sim_cell`` that renders the camera from the live
simulation state and publishes:

- ``camera_topic`` (/camera/image_raw): sensor_msgs/Image rgb8 ``width`` x ``height`` at
  ``camera_rate`` Hz (wall clock), header stamp = sim clock (``stamp_source: sim``) or wall,
  frame_id ``camera_frame``; ``camera_info_topic`` (/camera/camera_info) CameraInfo.
- ``/clock`` (rosgraph_msgs/Clock, sim time) when ``publish_clock``.
- Ground truth for evaluation only (never for control): ``/sim/cube/pose``,
  ``/sim/cup/pose``, ``/sim/ee_pose`` (PoseStamped, frame ``base_frame``), ``/sim/ee_state``
  (Float64MultiArray 7-D, facts convention), ``/sim/joint_states`` at ``gt_rate`` Hz.

Services: ``/sim/reset_objects`` (std_srvs/Trigger): random placement (seeded by ``seed``
when >= 0, advancing); ``/sim/place_objects`` (Trigger): place from the parameters
``cube_pose`` / ``cup_pose`` ([x, y] | [x, y, z] | [x, y, z, qw, qx, qy, qz]; empty =
random).  Set them with the parameter services, then call.

Parameters: config ("" = config/sim_cell.yaml), hostname (127.0.0.1), realtime (1.0),
camera ("" = the config's render.camera), camera_topic, camera_info_topic,
camera_rate (10.0), width/height (256), camera_frame (ext_cam), base_frame (base),
stamp_source (sim|wall), publish_clock (true), gt_rate (20.0), seed (-1),
cube_pose / cup_pose ([]), scene_file ("" = none; the bringups give goals_dir/scene.yaml:
its cube_xy / cup_xy lay the objects out as in the goal images).  If the server process
dies the node logs it and exits with status 1.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import numpy as np

from vjepa2_planner_node.ros_env import ensure_ros_env

ensure_ros_env()

import rclpy  # noqa: E402
import rclpy.exceptions  # noqa: E402
import rclpy.executors  # noqa: E402
from builtin_interfaces.msg import Time  # noqa: E402
from geometry_msgs.msg import PoseStamped  # noqa: E402
from rclpy.node import Node  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, JointState  # noqa: E402
from std_msgs.msg import Float64MultiArray  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from vjepa2_planner_node.ros_common import CAMERA_QOS  # noqa: E402
from vjepa2_world_model.pose import state7_from_pose  # noqa: E402
from vjepa2_world_model.robot.kinematics import gripper_closure  # noqa: E402
from vjepa2_world_model.sim import load_config  # noqa: E402  (sets MUJOCO_GL)
from vjepa2_world_model.sim.scene import (  # noqa: E402
    ARM_JOINTS,
    FINGER_JOINTS,
    OBJECT_NAMES,
    TCP_SITE,
    build_scene_xml,
    object_qpos_addresses,
    parse_object_pose,
    sample_object_poses,
)
from vjepa2_world_model.sim.server import SimServerProcess  # noqa: E402

try:
    from vjepa2_planner_node.image_codec import array_to_image_msg
except ImportError:  # pragma: no cover - NODES dev's codec is normally present
    array_to_image_msg = None

PARAMS: dict[str, Any] = {
    "config": "",
    "hostname": "127.0.0.1",
    "realtime": 1.0,
    "camera": "",  # "" = the config's render.camera
    "camera_topic": "/camera/image_raw",
    "camera_info_topic": "/camera/camera_info",
    "camera_rate": 10.0,
    "width": 256,
    "height": 256,
    "camera_frame": "ext_cam",
    "base_frame": "fr3_link0",
    "stamp_source": "sim",
    "publish_clock": True,
    "gt_rate": 20.0,
    "seed": -1,
    # YAML with cube_xy / cup_xy (goals_dir/scene.yaml, written with the goal images): the
    # objects start there, and /sim/place_objects puts them back; "" or missing = random
    "scene_file": "",
}
POSE_PARAMS = tuple(f"{n}_pose" for n in OBJECT_NAMES)


def to_time_msg(seconds: float) -> Time:
    sec = math.floor(seconds)
    return Time(sec=sec, nanosec=int((seconds - sec) * 1e9))


def camera_info(width: int, height: int, fovy_deg: float, frame: str) -> CameraInfo:
    """Pinhole CameraInfo of a MuJoCo camera (vertical fovy, square pixels, no distortion)."""
    fy = 0.5 * height / math.tan(math.radians(fovy_deg) / 2)
    fx, cx, cy = fy, (width - 1) / 2.0, (height - 1) / 2.0
    msg = CameraInfo()
    msg.header.frame_id = frame
    msg.width, msg.height = int(width), int(height)
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def _image_msg(rgb: np.ndarray) -> Image:
    if array_to_image_msg is not None:
        return array_to_image_msg(rgb, "rgb8")
    msg = Image()
    msg.height, msg.width = rgb.shape[:2]
    msg.encoding, msg.is_bigendian, msg.step = "rgb8", 0, rgb.shape[1] * 3
    msg.data = rgb.tobytes()
    return msg


def _pose_msg(pos: np.ndarray, quat_wxyz: np.ndarray, frame: str, stamp: Time) -> PoseStamped:
    msg = PoseStamped()
    msg.header.frame_id, msg.header.stamp = frame, stamp
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in pos)
    w, x, y, z = (float(v) for v in quat_wxyz)
    msg.pose.orientation.w, msg.pose.orientation.x = w, x
    msg.pose.orientation.y, msg.pose.orientation.z = y, z
    return msg


class SimCellNode(Node):
    """ROS side of the sim cell; owns the franky-sim server process."""

    def __init__(self, server: SimServerProcess | None = None) -> None:
        super().__init__("sim_cell")
        p = {}
        for name, default in PARAMS.items():
            self.declare_parameter(name, default)
            p[name] = self.get_parameter(name).value
        for name in POSE_PARAMS:  # typed, unset by default (= random placement)
            self.declare_parameter(name, rclpy.Parameter.Type.DOUBLE_ARRAY)
        self.p = p
        if p["stamp_source"] not in ("sim", "wall"):
            raise ValueError(f"stamp_source must be 'sim' or 'wall', got {p['stamp_source']!r}")
        for key in ("camera_rate", "gt_rate", "realtime"):
            if not float(p[key]) > 0:
                raise ValueError(f"parameter {key} must be > 0, got {p[key]!r}")
        if int(p["width"]) <= 0 or int(p["height"]) <= 0:
            raise ValueError("parameters width/height must be positive")
        self.cfg = load_config(p["config"] or None)
        p["camera"] = p["camera"] or str(self.cfg["render"].get("camera", "ext_cam"))
        if p["camera"] not in self.cfg["cameras"]:
            raise ValueError(f"camera {p['camera']!r} not in the sim config cameras")
        seed = int(p["seed"])
        self._scene = self._scene_layout()
        self.rng = np.random.default_rng(seed if seed >= 0 else None)

        import mujoco

        from vjepa2_world_model.sim.render import OffscreenRenderer, stacked_views

        self._mj = mujoco
        self.model = mujoco.MjModel.from_xml_string(build_scene_xml(self.cfg))
        self.renderer = OffscreenRenderer(
            self.model,
            shadows=bool(self.cfg["render"]["shadows"]),
            composites=stacked_views(self.cfg["cameras"]),
        )
        self._kin = mujoco.MjData(self.model)
        self._site = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, TCP_SITE)
        self._qadr_obj = object_qpos_addresses(self.model)
        self._joint_names = ARM_JOINTS + FINGER_JOINTS
        self._joint_qadr = [
            int(self.model.jnt_qposadr[mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, n)])
            for n in self._joint_names
        ]

        self.server = server or SimServerProcess(self.cfg, p["hostname"], float(p["realtime"]))
        if not self.server.alive:
            self.server.start(initial_poses=self._initial_poses())
        if self._scene:
            self.get_logger().info(f"scene laid out from {p['scene_file']}: {self._scene}")
        self.get_logger().info(
            f"franky-sim server up on {p['hostname']} (pid {self.server.pid}); "
            f"camera {p['camera']} {p['width']}x{p['height']} @ {p['camera_rate']} Hz"
        )

        self.pub_img = self.create_publisher(Image, p["camera_topic"], CAMERA_QOS)
        self.pub_info = self.create_publisher(CameraInfo, p["camera_info_topic"], CAMERA_QOS)
        cam = self.cfg["cameras"][p["camera"]]
        if "stack" in cam:  # a stacked view: the intrinsics of its first (top) camera
            cam = self.cfg["cameras"][cam["stack"][0][0]]
        self.info_msg = camera_info(
            int(p["width"]), int(p["height"]), float(cam["fovy"]), p["camera_frame"]
        )
        self.pub_obj = {
            n: self.create_publisher(PoseStamped, f"/sim/{n}/pose", 10) for n in OBJECT_NAMES
        }
        self.pub_ee = self.create_publisher(PoseStamped, "/sim/ee_pose", 10)
        self.pub_ee7 = self.create_publisher(Float64MultiArray, "/sim/ee_state", 10)
        self.pub_js = self.create_publisher(JointState, "/sim/joint_states", 10)
        self.pub_clock = None
        if p["publish_clock"]:
            from rosgraph_msgs.msg import Clock

            self._clock_cls = Clock
            self.pub_clock = self.create_publisher(Clock, "/clock", 10)
            self.create_timer(0.02, self._on_clock)
        self.create_service(Trigger, "/sim/reset_objects", self._on_reset)
        self.create_service(Trigger, "/sim/place_objects", self._on_place)
        self.create_timer(1.0 / float(p["camera_rate"]), self._on_camera)
        self.create_timer(1.0 / float(p["gt_rate"]), self._on_ground_truth)
        self.create_timer(0.5, self._on_watchdog)
        self.frames_published = 0
        self.failed = False
        self._stopping = False  # run_nodes began the orderly stop

    # ----------------------------------------------------------- helpers
    def _scene_layout(self) -> dict[str, list[float]]:
        """Object x/y from ``scene_file`` ({} when none): how the goal images were made."""
        path = str(self.p.get("scene_file") or "")
        if not path:
            return {}
        from pathlib import Path

        import yaml

        if not Path(path).is_file():
            self.get_logger().info(f"no scene file {path}: random object placement")
            return {}
        data = yaml.safe_load(Path(path).read_text()) or {}
        return {
            n: [float(v) for v in data[f"{n}_xy"]]
            for n in OBJECT_NAMES
            if isinstance(data.get(f"{n}_xy"), list)
        }

    def _initial_poses(self) -> dict[str, np.ndarray]:
        poses = sample_object_poses(self.cfg, self.rng)
        for name, xy in self._scene.items():
            poses[name] = parse_object_pose(name, xy, poses[name])
        for name in OBJECT_NAMES:
            param = f"{name}_pose"
            try:
                value = self.get_parameter(param).value
            except rclpy.exceptions.ParameterUninitializedException:
                value = None
            if value is not None and len(value) > 0:
                poses[name] = parse_object_pose(name, value, poses[name])
        return poses

    def _stamp(self, sim_time: float) -> Time:
        if self.p["stamp_source"] == "sim":
            return to_time_msg(sim_time)
        return self.get_clock().now().to_msg()

    # ----------------------------------------------------------- callbacks
    def _on_clock(self) -> None:
        if not self.server.alive:
            return
        _, t, _ = self.server.snapshot()
        msg = self._clock_cls()
        msg.clock = to_time_msg(t)
        self.pub_clock.publish(msg)

    def _on_camera(self) -> None:
        if not self.server.alive:
            return
        _, t, qpos = self.server.snapshot()
        self.renderer.set_state(qpos)
        rgb = self.renderer.render(self.p["camera"], int(self.p["width"]), int(self.p["height"]))
        stamp = self._stamp(t)
        msg = _image_msg(rgb)
        msg.header.stamp, msg.header.frame_id = stamp, self.p["camera_frame"]
        self.info_msg.header.stamp = stamp
        self.pub_img.publish(msg)
        self.pub_info.publish(self.info_msg)
        self.frames_published += 1

    def _on_ground_truth(self) -> None:
        if not self.server.alive:
            return
        _, t, qpos = self.server.snapshot()
        stamp, frame = self._stamp(t), self.p["base_frame"]
        for name, a in self._qadr_obj.items():
            self.pub_obj[name].publish(
                _pose_msg(qpos[a : a + 3], qpos[a + 3 : a + 7], frame, stamp)
            )
        d = self._kin
        d.qpos[:] = qpos
        self._mj.mj_kinematics(self.model, d)
        pos = d.site_xpos[self._site].copy()
        rot = d.site_xmat[self._site].reshape(3, 3)
        quat = np.empty(4)
        self._mj.mju_mat2Quat(quat, d.site_xmat[self._site])
        self.pub_ee.publish(_pose_msg(pos, quat, frame, stamp))
        width = float(qpos[self._joint_qadr[7]] + qpos[self._joint_qadr[8]])
        self.pub_ee7.publish(
            Float64MultiArray(data=state7_from_pose(pos, rot, gripper_closure(width)).tolist())
        )
        js = JointState()
        js.header.stamp = stamp
        js.name = list(self._joint_names)
        js.position = [float(qpos[a]) for a in self._joint_qadr]
        self.pub_js.publish(js)

    def _place(self, poses: dict[str, np.ndarray]) -> str:
        placed = self.server.place(poses)
        return "; ".join(
            f"{n}: [{', '.join(f'{v:.3f}' for v in placed[n][:3])}]" for n in OBJECT_NAMES
        )

    def _on_reset(self, _req: Trigger.Request, resp: Trigger.Response) -> Trigger.Response:
        try:
            resp.message = self._place(sample_object_poses(self.cfg, self.rng))
            resp.success = True
        except (RuntimeError, ValueError) as exc:
            resp.success, resp.message = False, str(exc)
        self.get_logger().info(f"reset_objects: {resp.message}")
        return resp

    def _on_place(self, _req: Trigger.Request, resp: Trigger.Response) -> Trigger.Response:
        try:
            resp.message = self._place(self._initial_poses())
            resp.success = True
        except (RuntimeError, ValueError) as exc:
            resp.success, resp.message = False, str(exc)
        self.get_logger().info(f"place_objects: {resp.message}")
        return resp

    def begin_shutdown(self, _reason: str) -> None:
        """Keep simulating until the bridge has let go (``shutdown_ready``)."""
        self._stopping = True

    def shutdown_ready(self) -> bool:
        """True once no libfranka client (the bridge) is connected to the simulated robot,
        so a bridge stopping at the same time (Ctrl-C to the whole launch) stops the arm
        and disconnects before the simulator goes, instead of seeing a robot fault.
        run_nodes gives up after its grace period."""
        from vjepa2_planner_node.ros_common import TCP_ESTABLISHED, tcp_sockets

        return not tcp_sockets(str(self.p["hostname"]), (1337, 1338), TCP_ESTABLISHED)

    def _on_watchdog(self) -> None:
        if not self.server.alive and not self.failed and not self._stopping:
            self.failed = True
            self.get_logger().error("franky-sim server process died; shutting the sim cell down")

    def destroy_node(self) -> None:
        self.server.stop()
        self.renderer.close()
        super().destroy_node()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vjepa2 sim-cell`` / ``python -m vjepa2_planner_node.sim_cell``."""
    from vjepa2_planner_node.ros_common import init_process, run_nodes

    args = sys.argv[1:] if argv is None else list(argv)
    own = args[: args.index("--ros-args")] if "--ros-args" in args else args
    if "-h" in own or "--help" in own:
        print(__doc__)
        return 0
    signals = init_process("sim_cell", ["sim_cell", *args])
    node = None
    try:
        node = SimCellNode()
    except KeyboardInterrupt:  # stopped while the simulator was starting
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        signals.finished()
        return 0
    except (RuntimeError, ValueError) as exc:
        print(f"sim_cell: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    # one thread: rendering and the simulator handle are not shared between threads
    run_nodes([node], signals, executor=rclpy.executors.SingleThreadedExecutor())
    time.sleep(0.05)
    return 1 if node.failed else 0


if __name__ == "__main__":
    sys.exit(main())
