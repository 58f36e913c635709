"""`vjepa2 record` / `vjepa2 replay BAG`: rosbag2 MCAP bags without rosbag2_py.

Recording subscribes raw (serialized CDR, no deserialisation) and writes with
``rosbags``; replay publishes the raw bytes through real rclpy publishers at the
original timing (``--rate`` scales it). Custom vjepa2_interfaces types are registered
in the bag's typestore from the package's .msg files.

Replay checks what it read: the message count against the bag's metadata, storage read
errors and messages that do not decode as their type (skipped) are reported, and
``vjepa2 replay`` exits 1 when anything was lost.  Message classes are imported only
from ``KNOWN_MSG_PACKAGES`` (a bag cannot make replay import an arbitrary module).
SIGINT and SIGTERM stop it, also during a long gap between messages.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from vjepa2_planner_node.ros_env import ensure_ros_env
from vjepa2_world_model.resources import data_root

DEFAULT_TOPICS = [
    "/camera/image_raw",
    "/camera/camera_info",
    "/franka/ee_state",
    "/franka/current_pose",
    "/goals/active_image",
    "/goals/active_name",
    "/planner/status",
    "/planner/ee_delta",
]
LATCHED_PREFIXES = ("/goals/",)
KNOWN_MSG_PACKAGES = frozenset(
    {
        "std_msgs",
        "sensor_msgs",
        "geometry_msgs",
        "builtin_interfaces",
        "vjepa2_interfaces",
        "diagnostic_msgs",
        "visualization_msgs",
        "rosgraph_msgs",
        "action_msgs",
        "rcl_interfaces",
        "tf2_msgs",
        "nav_msgs",
        "unique_identifier_msgs",
    }
)


class BagReadError(RuntimeError):
    """A bag could not be read completely."""


INTERFACES_MSG_DIR = data_root() / "ros2_ws" / "src" / "vjepa2_interfaces" / "msg"


def typestore() -> Any:
    """Kilted typestore + vjepa2_interfaces messages."""
    from rosbags.typesys import Stores, get_typestore
    from rosbags.typesys.msg import get_types_from_msg

    ts = get_typestore(Stores.ROS2_KILTED)
    types: dict = {}
    for f in sorted(INTERFACES_MSG_DIR.glob("*.msg")):
        types.update(get_types_from_msg(f.read_text(), f"vjepa2_interfaces/msg/{f.stem}"))
    ts.register(types)
    return ts


def message_class(type_name: str) -> type:
    """'pkg/msg/Type' -> the rclpy message class (``pkg`` in ``KNOWN_MSG_PACKAGES``)."""
    parts = type_name.split("/")
    if len(parts) != 3 or parts[1] != "msg" or not all(p.isidentifier() for p in parts):
        raise ValueError(f"bad message type name {type_name!r} (want pkg/msg/Type)")
    if parts[0] not in KNOWN_MSG_PACKAGES:
        raise ValueError(
            f"message package {parts[0]!r} of {type_name!r} is not a known "
            f"message package ({', '.join(sorted(KNOWN_MSG_PACKAGES))})"
        )
    cls = getattr(importlib.import_module(f"{parts[0]}.{parts[1]}"), parts[2], None)
    if cls is None:
        raise ValueError(f"no message type {type_name!r}")
    return cls


def _qos(topic: str) -> Any:
    from vjepa2_planner_node.ros_common import LATCHED_QOS

    return LATCHED_QOS if topic.startswith(LATCHED_PREFIXES) else 10


# -- record --------------------------------------------------------------------------
def record(
    out: str | Path,
    topics: list[str],
    duration: float | None = None,
    stop: threading.Event | None = None,
    discovery_s: float = 5.0,
) -> dict[str, int]:
    """Record ``topics`` into a new MCAP bag at ``out``; returns message counts per topic."""
    ensure_ros_env()
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rosbags.rosbag2 import StoragePlugin, Writer

    ts = typestore()
    own_ctx = not rclpy.ok()
    if own_ctx:
        rclpy.init()
    node = rclpy.create_node("vjepa2_recorder")
    stop = stop or threading.Event()
    counts: dict[str, int] = {}
    lock = threading.Lock()
    writer = Writer(Path(out), version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    conns: dict[str, Any] = {}
    pending = list(topics)
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    # --duration counts from when every requested topic is subscribed (graph discovery
    # can take seconds on a loaded machine); topics still missing after discovery_s stop
    # the wait and the clock starts with what was found.
    t_start = time.monotonic()
    t_end: float | None = None

    def subscribe_available() -> None:
        graph = dict(node.get_topic_names_and_types())
        for topic in list(pending):
            if topic not in graph:
                continue
            type_name = graph[topic][0]
            try:
                cls = message_class(type_name)
            except (ImportError, AttributeError, ValueError) as e:
                node.get_logger().warning(f"not recording {topic}: {e}")
                pending.remove(topic)
                continue
            conns[topic] = writer.add_connection(topic, type_name, typestore=ts)
            counts[topic] = 0

            def cb(data: bytes, topic: str = topic) -> None:
                stamp = node.get_clock().now().nanoseconds
                with lock:
                    writer.write(conns[topic], stamp, data)
                    counts[topic] += 1

            node.create_subscription(cls, topic, cb, _qos(topic), raw=True)
            pending.remove(topic)

    try:
        while not stop.is_set() and (t_end is None or time.monotonic() < t_end):
            now = time.monotonic()
            if pending:
                subscribe_available()
            if (
                t_end is None
                and duration is not None
                and (not pending or now > t_start + discovery_s)
            ):
                if pending:
                    node.get_logger().warning(
                        f"not published yet: {pending}; recording them if they appear"
                    )
                t_end = now + duration
            ex.spin_once(timeout_sec=0.05)
    finally:
        with lock:
            writer.close()
        ex.remove_node(node)
        node.destroy_node()
        if own_ctx:
            rclpy.try_shutdown()
    return counts


def record_main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vjepa2 record", description="record topics to MCAP")
    ap.add_argument("-o", "--output", default=time.strftime("bags/vjepa2_%Y%m%d_%H%M%S"))
    ap.add_argument("--topics", nargs="+", default=DEFAULT_TOPICS)
    ap.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds to record, counted from when the topics are subscribed "
        "(default: until Ctrl-C)",
    )
    ns = ap.parse_args(argv)
    Path(ns.output).parent.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    counts = record(ns.output, ns.topics, ns.duration, stop)
    print(f"recorded {sum(counts.values())} messages to {ns.output}: {counts}")
    return 0


# -- replay --------------------------------------------------------------------------
def read_bag_checked(
    path: str | Path, topics: list[str] | None = None, decode: bool = True
) -> tuple[list[tuple[str, str, int, bytes]], list[str]]:
    """(messages, problems): every readable (topic, type, timestamp_ns, raw CDR) in time
    order, and what was lost (storage errors, count below the metadata's, messages that
    do not decode as their type when ``decode``; those are left out)."""
    from rosbags.rosbag2 import Reader

    out = []
    problems: list[str] = []
    ts = typestore() if decode else None
    undecodable: dict[str, int] = {}
    expected = 0
    try:
        with Reader(Path(path)) as reader:
            conns = [c for c in reader.connections if topics is None or c.topic in topics]
            expected = sum(int(c.msgcount) for c in conns)
            try:
                for conn, stamp, data in reader.messages(connections=conns):
                    raw = bytes(data)
                    if ts is not None:
                        try:
                            ts.deserialize_cdr(raw, conn.msgtype)
                        except Exception:
                            undecodable[conn.topic] = undecodable.get(conn.topic, 0) + 1
                            continue
                    out.append((conn.topic, conn.msgtype, stamp, raw))
            except Exception as e:
                problems.append(f"read error after {len(out)} messages: {type(e).__name__}: {e}")
    except Exception as e:
        raise BagReadError(f"cannot open bag {path}: {type(e).__name__}: {e}") from None
    for topic, n in sorted(undecodable.items()):
        problems.append(f"{n} message(s) on {topic} do not decode as their type (skipped)")
    got = len(out) + sum(undecodable.values())
    if got < expected:
        problems.append(f"read {got} of the {expected} messages the metadata lists")
    out.sort(key=lambda m: m[2])
    return out, problems


def read_bag(
    path: str | Path, topics: list[str] | None = None
) -> list[tuple[str, str, int, bytes]]:
    """All (topic, type, timestamp_ns, raw CDR) of a bag, in time order; BagReadError
    naming the loss if anything could not be read."""
    msgs, problems = read_bag_checked(path, topics, decode=False)
    if problems:
        raise BagReadError(f"bag {path}: " + "; ".join(problems))
    return msgs


def replay(
    path: str | Path,
    topics: list[str] | None = None,
    rate: float = 1.0,
    stop: threading.Event | None = None,
    node: Any = None,
    start_delay: float = 0.2,
    wait_subscribers: float = 2.0,
    problems: list[str] | None = None,
) -> int:
    """Publish a bag's messages raw at original timing; returns messages published.

    What could not be read, decoded or published is appended to ``problems`` (pass a
    list); topics of unknown message packages are skipped and reported there."""
    ensure_ros_env()
    import rclpy

    if not rate > 0:
        raise ValueError(f"rate must be > 0, got {rate}")
    problems = [] if problems is None else problems
    msgs, lost = read_bag_checked(path, topics)
    problems.extend(lost)
    own_ctx = not rclpy.ok()
    if own_ctx:
        rclpy.init()
    own_node = node is None
    node = node or rclpy.create_node("vjepa2_replay")
    stop = stop or threading.Event()
    pubs: dict[str, Any] = {}
    skipped: dict[str, int] = {}
    for topic, type_name, _, _ in msgs:
        if topic in pubs or topic in skipped:
            continue
        try:
            pubs[topic] = node.create_publisher(message_class(type_name), topic, _qos(topic))
        except (ImportError, ValueError) as e:
            skipped[topic] = 0
            problems.append(f"not replaying {topic}: {e}")
    msgs = [m for m in msgs if m[0] in pubs]
    deadline = time.monotonic() + wait_subscribers  # let subscribers match the publishers
    while time.monotonic() < deadline and not stop.is_set():
        if all(p.get_subscription_count() > 0 for p in pubs.values()):
            break
        time.sleep(0.05)
    time.sleep(start_delay)
    n = 0
    if msgs:
        t0_bag, t0 = msgs[0][2], time.monotonic()
        for topic, _, stamp, data in msgs:
            wait = t0 + (stamp - t0_bag) * 1e-9 / rate - time.monotonic()
            if wait > 0 and stop.wait(wait):
                break
            if stop.is_set():
                break
            pubs[topic].publish(data)
            n += 1
    if own_node:
        time.sleep(0.2)
        node.destroy_node()
    if own_ctx:
        rclpy.try_shutdown()
    return n


def replay_main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vjepa2 replay", description="replay an MCAP bag")
    ap.add_argument("bag")
    ap.add_argument("--topics", nargs="+", default=None)
    ap.add_argument("--rate", type=float, default=1.0)
    ap.add_argument(
        "--wait",
        type=float,
        default=2.0,
        help="seconds to wait for subscribers of every topic before starting",
    )
    ns = ap.parse_args(argv)
    if not Path(ns.bag).is_dir():
        print(f"vjepa2 replay: {ns.bag} is not a rosbag2 directory", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    problems: list[str] = []
    try:
        n = replay(ns.bag, ns.topics, ns.rate, stop, wait_subscribers=ns.wait, problems=problems)
    except (BagReadError, ValueError) as e:
        print(f"vjepa2 replay: {e}", file=sys.stderr)
        return 2
    print(f"replayed {n} messages from {ns.bag}" + (" (stopped)" if stop.is_set() else ""))
    for p in problems:
        print(f"vjepa2 replay: LOST: {p}", file=sys.stderr)
    return 1 if problems else 0


# -- closed-loop replay (planner tests) ----------------------------------------------
INPUT_TOPICS = [
    "/camera/image_raw",
    "/franka/ee_state",
    "/franka/current_pose",
    "/camera/camera_info",
]


def _stamp_ns(ts: Any, msgtype: str, raw: bytes) -> int:
    msg = ts.deserialize_cdr(raw, msgtype)
    return int(msg.header.stamp.sec) * 10**9 + int(msg.header.stamp.nanosec)


def replay_closed_loop(
    path: str | Path,
    node: Any,
    start_goal: Any,
    step_timeout: float = 120.0,
    release_gap: float = 0.1,
) -> tuple[list[list[float]], list[list[float]]]:
    """Replay a recorded planning session into a live planner, standing in for the bridge.

    The bag must hold the planner's ``/planner/ee_delta`` commands (their header stamp =
    the camera frame each was planned from) with the camera and state streams. Inputs
    are published raw at original timing; this function serves ``/franka/execute_delta``
    and keeps the live planner in lock-step with the recording: the frame a recorded
    step was planned from is the newest frame the live planner has when it observes
    (``start_goal()`` is called right after the first one, to send the PlanToGoal), and
    each ExecuteDelta goal is held until the recording reaches the next planning frame.
    Returns (recorded deltas, replayed deltas), each [[dx..dgripper], ...].
    """
    from rclpy.action import ActionServer
    from vjepa2_interfaces.action import ExecuteDelta

    from vjepa2_planner_node.ros_common import ee_delta_to_array

    ts = typestore()
    msgs = read_bag(path)
    recorded = [ts.deserialize_cdr(raw, t) for tp, t, _, raw in msgs if tp == "/planner/ee_delta"]
    if not recorded:
        raise ValueError(f"{path} holds no /planner/ee_delta messages")
    used = [int(d.header.stamp.sec) * 10**9 + int(d.header.stamp.nanosec) for d in recorded]
    inputs = [m for m in msgs if m[0] in INPUT_TOPICS]
    frame_idx = {}
    for i, (tp, t, _, raw) in enumerate(inputs):
        if tp == "/camera/image_raw":
            frame_idx.setdefault(_stamp_ns(ts, t, raw), i)
    missing = [k for k, s in enumerate(used) if s not in frame_idx]
    if missing:
        raise ValueError(f"planning frames of steps {missing} are not in the bag")
    sync = {frame_idx[s]: k for k, s in enumerate(used)}

    pubs = {tp: node.create_publisher(message_class(t), tp, _qos(tp)) for tp, t, _, _ in inputs}
    goals: list[Any] = []
    releases: list[threading.Event] = []
    cond = threading.Condition()

    def execute(gh: Any) -> Any:
        ev = threading.Event()
        with cond:
            goals.append(ee_delta_to_array(gh.request.delta).tolist())
            releases.append(ev)
            cond.notify_all()
        while not ev.wait(0.01):
            if gh.is_cancel_requested:
                gh.canceled()
                return ExecuteDelta.Result(message="canceled")
        gh.succeed()
        return ExecuteDelta.Result(success=True, executed=gh.request.delta)

    from rclpy.callback_groups import ReentrantCallbackGroup

    server = ActionServer(
        node,
        ExecuteDelta,
        "/franka/execute_delta",
        execute,
        callback_group=ReentrantCallbackGroup(),
    )
    time.sleep(1.0)  # discovery of the new publishers / action server
    offset = time.monotonic() - inputs[0][2] * 1e-9
    last_state: bytes | None = None
    try:
        last_pending = False
        for i, (tp, _, stamp, raw) in enumerate(inputs):
            k = sync.get(i)
            release = k - 1 if k is not None and k > 0 else None
            if last_pending and tp == "/camera/image_raw":
                release, last_pending = len(used) - 1, False  # the last motion ended
            if release is not None:
                releases[release].set()  # the recording's motion ended: result to planner
                time.sleep(release_gap)
                offset += release_gap
            wait = offset + stamp * 1e-9 - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            pubs[tp].publish(raw)
            if tp == "/franka/ee_state":
                last_state = raw
            if k is None:
                continue
            if k == 0:
                time.sleep(release_gap)
                start_goal()
            t_pause = time.monotonic()
            deadline = t_pause + step_timeout
            with cond:
                while len(goals) <= k:  # wait for the live planner's delta k
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"planner sent no delta for step {k}")
                    cond.wait(0.1)
                    if last_state is not None:  # the robot keeps reporting its state
                        pubs["/franka/ee_state"].publish(last_state)
            offset += time.monotonic() - t_pause
            last_pending = k == len(used) - 1
        for ev in releases:
            ev.set()
    finally:
        time.sleep(0.2)
        server.destroy()
    return [ee_delta_to_array(d).tolist() for d in recorded], goals
