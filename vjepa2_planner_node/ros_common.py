"""Small ROS helpers shared by the nodes: the QoS profiles and the EEDelta field list (defined
here only), message <-> numpy, param declaration, topic checks. Images: image_codec.py."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from vjepa2_planner_node.interrupts import ShutdownSignals
from vjepa2_planner_node.params import ParamError
from vjepa2_planner_node.ros_env import ensure_ros_env

ensure_ros_env()

from rclpy.action import ActionClient as _RclpyActionClient  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import (  # noqa: E402
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)

# Camera: keep only the newest frame; reliable so the sim/replay frames are not dropped.
CAMERA_QOS = QoSProfile(
    depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE
)
LATCHED_QOS = QoSProfile(
    depth=1,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
# Status streams: reliable, and the last few kept for subscribers that join later (a
# viewer started after the planner still gets its "ready").
STATUS_QOS = QoSProfile(
    depth=10,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


def action_service_qos() -> dict[str, Any]:
    """Goal/result/cancel service QoS for action servers and clients: 1000 deep.

    rclpy's default (services profile, keep last 10) silently drops requests beyond the
    10th of a burst: 100 goals sent at once got 13 answers.  Pass as ``**kwargs``.
    """
    qos = QoSProfile(
        depth=1000, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE
    )
    return {
        "goal_service_qos_profile": qos,
        "result_service_qos_profile": qos,
        "cancel_service_qos_profile": qos,
    }


class ActionClient(_RclpyActionClient):
    """rclpy's ActionClient, safe to create on a node that an executor already spins.

    rclpy registers the client with its node before it creates the client's lock, so an
    executor thread that lists the node's waitables in that window dies with
    ``AttributeError: 'ActionClient' object has no attribute '_lock'`` and the node stops
    receiving anything. Creating the lock first closes the window.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lock = threading.Lock()
        for k, v in action_service_qos().items():  # deep request queues (bursts)
            kwargs.setdefault(k, v)
        super().__init__(*args, **kwargs)


DELTA_FIELDS = ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "dgripper")  # EEDelta, in order


def ee_delta_to_array(msg: Any) -> np.ndarray:
    return np.array([getattr(msg, f) for f in DELTA_FIELDS], dtype=np.float64)


def array_to_ee_delta(a: np.ndarray, frame_id: str = "", stamp: Any = None) -> Any:
    from vjepa2_interfaces.msg import EEDelta

    a = np.asarray(a, dtype=np.float64).reshape(-1)
    if a.shape != (7,):
        raise ValueError(f"EE delta must have 7 values, got {a.shape}")
    msg = EEDelta(**{f: float(v) for f, v in zip(DELTA_FIELDS, a, strict=True)})
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    return msg


def stamp_to_sec(stamp: Any) -> float:
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


def declare(node: Node, params: dict[str, Any]) -> dict[str, Any]:
    """Declare parameters with defaults and return their values as a dict."""
    out = {}
    for name, default in params.items():
        node.declare_parameter(name, default)
        out[name] = node.get_parameter(name).value
    return out


def topic_type_problem(node: Node, topic: str, expected: str) -> str | None:
    """Why ``topic`` cannot be used as ``expected`` (published with another type), or None.

    Only publishers count: our own subscription of the expected type must not hide a
    wrong-typed publisher that is discovered late."""
    name = node.resolve_topic_name(topic)
    bad = sorted({i.topic_type for i in node.get_publishers_info_by_topic(name)} - {expected})
    if bad:
        return f"topic {topic} is published with type {bad}, expected {expected}"
    return None


def check_topic_type(
    node: Node, topic: str, expected: str, param: str, wait_s: float = 3.0
) -> None:
    """ParamError if ``topic`` exists in the graph with a type other than ``expected``.

    ``expected`` like 'sensor_msgs/msg/Image'. Waits up to ``wait_s`` for discovery; a
    topic nobody publishes yet is accepted here (nodes re-check it for a while after
    startup, and the stale-input watchdog reports a silent topic).
    """
    deadline = time.monotonic() + wait_s
    while True:
        problem = topic_type_problem(node, topic, expected)
        if problem:
            raise ParamError(param, problem)
        if node.get_publishers_info_by_topic(node.resolve_topic_name(topic)):
            return
        if time.monotonic() >= deadline:
            return
        time.sleep(0.05)


TCP_LISTEN, TCP_ESTABLISHED = "0A", "01"


def tcp_sockets(host: str | None, ports: tuple[int, ...], state: str) -> int:
    """Local IPv4 TCP sockets on ``host`` (None or 0.0.0.0 = any address) and one of
    ``ports`` in ``state`` (TCP_LISTEN / TCP_ESTABLISHED), read from /proc/net/tcp, so no
    connection is made. Several simulated cells listen on 127.x.y.z at once (tests, other
    stacks): ``host`` tells them apart."""
    import socket
    import struct

    addrs = {"00000000"}
    if host and host != "0.0.0.0":
        try:
            ip = struct.unpack("<I", socket.inet_aton(socket.gethostbyname(host)))[0]
        except OSError:
            return 0
        addrs = {f"{ip:08X}"} | ({"00000000"} if state == TCP_LISTEN else set())
    local = {f"{a}:{p:04X}" for a in addrs for p in ports}
    try:
        with open("/proc/net/tcp") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return 0
    return sum(
        1
        for line in lines
        if len(cols := line.split()) > 3 and cols[1] in local and cols[3] == state
    )


def init_process(name: str, args: list[str] | None) -> ShutdownSignals:
    """``rclpy.init`` without rclpy's signal handlers, plus ours (see ShutdownSignals).

    rclpy's handlers shut the context down on the first SIGINT, under running callbacks
    (``RCLError: publisher's context is invalid``) and before a node could stop its work;
    ours let ``run_nodes`` stop the nodes in order first.
    """
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    signals = ShutdownSignals(name).install()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    return signals


def run_nodes(
    nodes: list[Node],
    signals: ShutdownSignals | None = None,
    executor: Any = None,
    grace_s: float = 8.0,
) -> str:
    """Spin ``nodes`` until a signal, the parent's exit, a node's ``fatal``/``failed`` or
    an external shutdown; then stop them in order. Returns why it stopped.

    Orderly stop: each node's ``begin_shutdown(reason)`` runs (planner: end the goal and
    answer its client; bridge: stop the arm), the executor keeps spinning until every
    node's ``shutdown_ready()`` (or ``grace_s``), so results still reach their clients;
    then the executor is shut down before the nodes are destroyed and the context last.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

    ex = executor if executor is not None else MultiThreadedExecutor(num_threads=4)
    for n in nodes:
        ex.add_node(n)
    if signals is not None:
        signals.running()
    why = ""
    try:
        while not why:
            if signals is not None:
                why = signals.stop_reason()
            for n in nodes:
                if getattr(n, "fatal", None) or getattr(n, "failed", False):
                    why = why or f"{n.get_name()} failed"
            if not rclpy.ok():
                why = why or "context shut down"
            if not why:
                ex.spin_once(timeout_sec=0.1)
        if rclpy.ok():
            nodes[0].get_logger().info(f"stopping: {why}")
            for n in nodes:
                if hasattr(n, "begin_shutdown"):
                    n.begin_shutdown(why)
            deadline = time.monotonic() + grace_s
            while (
                time.monotonic() < deadline
                and rclpy.ok()
                and not all(getattr(n, "shutdown_ready", lambda: True)() for n in nodes)
            ):
                ex.spin_once(timeout_sec=0.05)
            flush = time.monotonic() + 0.3  # let the last results / status messages out
            while time.monotonic() < flush and rclpy.ok():
                ex.spin_once(timeout_sec=0.05)
    except (KeyboardInterrupt, ExternalShutdownException):
        why = why or "interrupted"
    finally:
        ex.shutdown(timeout_sec=5.0)
        for n in nodes:
            n.destroy_node()
        rclpy.try_shutdown()
        if signals is not None:
            signals.finished()  # a signal during the interpreter's exit must not kill it
    return why
