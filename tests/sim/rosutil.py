"""Helpers for the sim/bridge process tests: start processes, a spinning test node."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from nodes.rosproc import stop

REPO = Path(__file__).resolve().parents[2]


def _raise_priority(nice: int) -> None:
    try:
        os.nice(nice)
    except OSError:  # not permitted: run at normal priority
        pass


def start_module(
    module: str, params: dict[str, Any], log_path: Path, nice: int = -5
) -> subprocess.Popen:
    """``python -m module --ros-args -p k:=v ...`` with output to ``log_path``.

    Runs at raised priority (``nice``, like a robot controller) where permitted, so a
    CPU-starved shared machine does not trip libfranka's 1 s UDP timeout.
    """
    cmd = [sys.executable, "-m", module, "--ros-args"]
    for k, v in params.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, (list, tuple)):
            v = "[" + ",".join(str(float(x)) for x in v) + "]"
        cmd += ["-p", f"{k}:={v}"]
    log = open(log_path, "ab")  # noqa: SIM115
    return subprocess.Popen(
        cmd,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
        start_new_session=True,
        preexec_fn=lambda: _raise_priority(nice),
    )


def stop_process(proc: subprocess.Popen | None) -> None:
    """Ctrl-C ``proc`` (then kill it and its process group): the node tests' ``stop``."""
    if proc is not None:
        stop([proc])


def wait_for(pred: Any, timeout: float, period: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(period)
    return bool(pred())


class RosClient:
    """rclpy node spinning in a background thread, caching the latest messages."""

    def __init__(self) -> None:
        import rclpy
        from geometry_msgs.msg import PoseStamped
        from rclpy.executors import MultiThreadedExecutor
        from sensor_msgs.msg import Image
        from std_msgs.msg import Float64MultiArray, String
        from vjepa2_interfaces.action import ExecuteDelta

        from vjepa2_planner_node.ros_common import ActionClient

        if not rclpy.ok():
            rclpy.init()
        self.rclpy = rclpy
        self.node = rclpy.create_node("sim_test_client")
        self.ExecuteDelta = ExecuteDelta
        self.lock = threading.Lock()
        self.state: np.ndarray | None = None
        self.state_time = 0.0
        self.status = ""
        self.events: list[str] = []
        self.images: list[tuple[float, Any]] = []
        self.cube: Any = None
        n = self.node
        n.create_subscription(Float64MultiArray, "/franka/ee_state", self._on_state, 10)
        n.create_subscription(String, "/franka/status", self._on_status, 10)
        n.create_subscription(
            String, "/franka/safety_events", lambda m: self.events.append(m.data), 10
        )
        n.create_subscription(Image, "/camera/image_raw", self._on_image, 10)
        n.create_subscription(PoseStamped, "/sim/cube/pose", lambda m: setattr(self, "cube", m), 10)
        self.client = ActionClient(n, ExecuteDelta, "/franka/execute_delta")
        self.executor = MultiThreadedExecutor(num_threads=2)
        self.executor.add_node(n)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _on_state(self, msg: Any) -> None:
        with self.lock:
            self.state = np.asarray(msg.data, dtype=np.float64)
            self.state_time = time.monotonic()

    def _on_status(self, msg: Any) -> None:
        self.status = msg.data

    def _on_image(self, msg: Any) -> None:
        with self.lock:
            self.images.append((time.monotonic(), msg))
            del self.images[:-200]

    def fresh_state(self, after: float | None = None, timeout: float = 5.0) -> np.ndarray:
        t0 = time.monotonic() if after is None else after
        assert wait_for(lambda: self.state is not None and self.state_time > t0, timeout), (
            "no /franka/ee_state"
        )
        with self.lock:
            return self.state.copy()

    def image(self, after: float, timeout: float = 5.0) -> np.ndarray:
        assert wait_for(lambda: self.images and self.images[-1][0] > after, timeout), (
            "no camera frame"
        )
        with self.lock:
            msg = self.images[-1][1]
        return np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)

    def send(self, delta: Any, timeout: float = 0.0, wait: bool = True) -> Any:
        """Send an ExecuteDelta goal; returns the result (wait) or the goal handle."""
        assert self.client.wait_for_server(timeout_sec=20.0), "no ExecuteDelta server"
        goal = self.ExecuteDelta.Goal()
        for f, v in zip(
            ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "dgripper"), delta, strict=True
        ):
            setattr(goal.delta, f, float(v))
        goal.timeout = float(timeout)
        fut = self.client.send_goal_async(goal)
        assert wait_for(fut.done, 10.0), "goal not answered"
        handle = fut.result()
        assert handle.accepted
        if not wait:
            return handle
        res = handle.get_result_async()
        assert wait_for(res.done, 60.0), "no result"
        return res.result().result

    def call_trigger(self, name: str, timeout: float = 10.0, attempts: int = 1) -> Any:
        """Call a Trigger service; ``attempts`` > 1 re-sends a request that got no answer
        (right after a server restart the first request can go to no matched server)."""
        from std_srvs.srv import Trigger

        clients = self.__dict__.setdefault("_trigger_clients", {})
        if name not in clients:  # one client per service: discovery happens once
            clients[name] = self.node.create_client(Trigger, name)
        cli = clients[name]
        assert cli.wait_for_service(timeout_sec=timeout), f"no service {name}"
        for _ in range(attempts):
            fut = cli.call_async(Trigger.Request())
            if wait_for(fut.done, timeout):
                return fut.result()
            cli.remove_pending_request(fut)
        raise AssertionError(f"no answer from {name} to {attempts} request(s)")

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        if self.rclpy.ok():
            self.rclpy.shutdown()


class SimCell:
    """A real sim cell + franka_bridge pair on this test run's robot IP, and a RosClient.

    ``sim_params`` / ``bridge_params`` are the nodes' ROS parameters (hostname / robot_ip
    added here); ``start_bridge(**extra)`` restarts the bridge with some of them changed.
    """

    def __init__(
        self, tmp: Path, sim_params: dict[str, Any], bridge_params: dict[str, Any]
    ) -> None:
        self.ip = os.environ["VJEPA2_TEST_ROBOT_IP"]
        self.tmp = tmp
        self.sim_params, self.bridge_params = sim_params, bridge_params
        self.sim: subprocess.Popen | None = None
        self.bridge: subprocess.Popen | None = None
        self.node: RosClient | None = None

    def start_sim(self) -> None:
        self.sim = start_module(
            "vjepa2_planner_node.sim_cell",
            {"hostname": self.ip, **self.sim_params},
            self.tmp / "sim_cell.log",
        )

    def start_bridge(self, **extra: Any) -> None:
        self.bridge = start_module(
            "vjepa2_planner_node.franka_bridge",
            {"robot_ip": self.ip, **self.bridge_params, **extra},
            self.tmp / "bridge.log",
        )

    def logs(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in self.tmp.glob("*.log"))

    def __enter__(self) -> SimCell:
        self.start_sim()
        self.start_bridge()
        self.node = RosClient()
        node = self.node
        if not wait_for(lambda: node.status.startswith("ok") and node.state is not None, 60.0):
            self.__exit__()
            raise AssertionError(
                f"sim cell / bridge did not come up; status={node.status!r}\n{self.logs()}"
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.node is not None:
            self.node.close()
            self.node = None
        stop_process(self.bridge)
        stop_process(self.sim)
