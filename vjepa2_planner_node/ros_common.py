"""Small ROS helpers shared by the nodes: message <-> numpy, param declaration, topic checks."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

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
CAMERA_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                        reliability=ReliabilityPolicy.RELIABLE)
LATCHED_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)



def action_service_qos() -> dict[str, Any]:
    """Goal/result/cancel service QoS for action servers and clients: 1000 deep.

    rclpy's default (services profile, keep last 10) silently drops requests beyond the
    10th of a burst: 100 goals sent at once got 13 answers.  Pass as ``**kwargs``.
    """
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    qos = QoSProfile(depth=1000, history=HistoryPolicy.KEEP_LAST,
                     reliability=ReliabilityPolicy.RELIABLE)
    return {"goal_service_qos_profile": qos, "result_service_qos_profile": qos,
            "cancel_service_qos_profile": qos}


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


DELTA_FIELDS = ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "dgripper")


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
