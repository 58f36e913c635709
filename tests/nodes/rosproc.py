"""Helpers for node tests: start node processes, an in-test client node, waits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def start(
    module: str, *ros_args: str, log: Path, extra_env: dict | None = None
) -> subprocess.Popen:
    """``python -m module --ros-args ros_args...`` with the test session's ROS env."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **(extra_env or {})}
    cmd = [sys.executable, "-m", module]
    if ros_args:
        cmd += ["--ros-args", *ros_args]
    return subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            # > the bringup's own 5 s grace for its children, so it can exit cleanly
            p.wait(timeout=12)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        # whatever it started (its own session's process group) must not outlive the test:
        # an orphaned node would keep publishing into the next tests
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def wait_until(
    pred: Callable[[], Any], timeout: float, what: str | Callable[[], str], poll: float = 0.02
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(poll)
    what = what() if callable(what) else what
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Client:
    """An rclpy node spun in a background thread, for talking to the node processes."""

    def __init__(self, name: str = "test_client") -> None:
        import rclpy
        from rclpy.executors import MultiThreadedExecutor

        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.node = rclpy.create_node(name, context=self.ctx)
        self.ex = MultiThreadedExecutor(num_threads=4, context=self.ctx)
        self.ex.add_node(self.node)
        self.thread = threading.Thread(target=self.ex.spin, daemon=True)
        self.thread.start()

    def result(self, future, timeout: float = 10.0, what: str = "future") -> Any:
        wait_until(future.done, timeout, what)
        return future.result()

    def call(self, srv_type: type, name: str, request: Any, timeout: float = 10.0) -> Any:
        cli = self.node.create_client(srv_type, name)
        assert cli.wait_for_service(timeout_sec=timeout), f"service {name} not available"
        return self.result(cli.call_async(request), timeout, f"service {name}")

    def collect(self, msg_type: type, topic: str, qos: Any = 10) -> list:
        got: list = []
        self.node.create_subscription(msg_type, topic, got.append, qos)
        return got

    def close(self) -> None:
        self.ex.shutdown(timeout_sec=2.0)
        self.thread.join(timeout=5.0)
        self.node.destroy_node()
        self.ctx.try_shutdown()
