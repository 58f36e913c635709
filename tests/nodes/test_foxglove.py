"""Live view: the foxglove_bridge process serves the stack over the Foxglove WebSocket
protocol. A plain WebSocket client (as the Foxglove app would) receives a camera frame
and the planner status, calls goal services and starts/stops a plan through it.

Real processes: fake cell (camera, state, ExecuteDelta), planner_node (random tiny
weights), goal_selector, foxglove_bridge."""

from __future__ import annotations

import json
import socket
import struct
import time

import numpy as np
import pytest
from websockets.sync.client import connect

from .rosproc import start, stop, wait_until

# foxglove-sdk 0.30 speaks the ws-protocol v1 messages under this subprotocol name
SUBPROTOCOLS = ["foxglove.sdk.v1", "foxglove.websocket.v1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def protobuf_fields(buf: bytes) -> dict[int, object]:
    """Top-level fields of a protobuf message (varint, fixed32 as uint32, bytes)."""
    out: dict[int, object] = {}
    i = 0

    def varint() -> int:
        nonlocal i
        v, shift = 0, 0
        while True:
            b = buf[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v

    while i < len(buf):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            out[field] = varint()
        elif wire == 2:
            n = varint()
            out[field] = buf[i : i + n]
            i += n
        elif wire == 5:
            out[field] = struct.unpack_from("<I", buf, i)[0]
            i += 4
        elif wire == 1:
            i += 8
        else:
            raise ValueError(f"wire type {wire}")
    return out


class FoxgloveClient:
    """The parts of the Foxglove WebSocket protocol the app uses here."""

    def __init__(self, url: str) -> None:
        self.ws = connect(
            url, subprotocols=SUBPROTOCOLS, max_size=None, open_timeout=10, legacy=True
        )
        self.channels: dict[str, dict] = {}
        self.services: dict[str, dict] = {}
        self.subs: dict[int, str] = {}
        self.messages: dict[str, list[bytes]] = {}
        self.replies: dict[int, bytes] = {}
        self.failures: dict[int, str] = {}
        self._call_id = 0

    def pump(self, timeout: float = 0.2) -> None:
        try:
            msg = self.ws.recv(timeout=timeout)
        except TimeoutError:
            return
        if isinstance(msg, str):
            m = json.loads(msg)
            if m["op"] == "advertise":
                self.channels.update({c["topic"]: c for c in m["channels"]})
            elif m["op"] == "advertiseServices":
                self.services.update({s["name"]: s for s in m["services"]})
            elif m["op"] == "serviceCallFailure":
                self.failures[m["callId"]] = m["message"]
            return
        op = msg[0]
        if op == 1:  # message data: sub id, log time, payload
            sub = struct.unpack_from("<I", msg, 1)[0]
            self.messages.setdefault(self.subs[sub], []).append(bytes(msg[13:]))
        elif op == 3:  # service call response: service id, call id, encoding, payload
            _, call_id, n = struct.unpack_from("<III", msg, 1)
            self.replies[call_id] = bytes(msg[13 + n :])

    def wait(self, pred, timeout: float, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = pred()
            if v:
                return v
            self.pump()
        raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")

    def subscribe(self, *topics: str) -> None:
        self.wait(
            lambda: all(t in self.channels for t in topics),
            60,
            lambda: f"channels {topics}; advertised {sorted(self.channels)}",
        )
        subs = []
        for t in topics:
            sid = len(self.subs) + 1
            self.subs[sid] = t
            subs.append({"id": sid, "channelId": self.channels[t]["id"]})
        self.ws.send(json.dumps({"op": "subscribe", "subscriptions": subs}))

    def call(self, name: str, request: dict, timeout: float = 20.0) -> dict:
        self.wait(lambda: name in self.services, 20, f"service {name}")
        self._call_id += 1
        cid = self._call_id
        enc = b"json"
        payload = json.dumps(request).encode()
        self.ws.send(
            struct.pack("<BIII", 2, self.services[name]["id"], cid, len(enc)) + enc + payload
        )
        self.wait(lambda: cid in self.replies or cid in self.failures, timeout, f"{name} reply")
        assert cid not in self.failures, self.failures[cid]
        return json.loads(self.replies[cid])

    def latest_json(self, topic: str) -> list[dict]:
        return [json.loads(m) for m in self.messages.get(topic, [])]


@pytest.fixture(scope="module")
def view(tmp_path_factory, tiny_checkpoint):
    tmp = tmp_path_factory.mktemp("fox")
    goals = tmp / "goals"
    port = _free_port()
    procs = [
        start("tests.nodes.fake_cell", "-p", "motion_s:=0.2", log=tmp / "cell.log"),
        start(
            "vjepa2_planner_node.planner_node",
            "-p",
            f"planner:goals_dir:={goals}",
            "-p",
            f"world_model:checkpoint:={tiny_checkpoint}",
            "-p",
            "device:=cpu",
            "-p",
            "planner:samples:=8",
            "-p",
            "planner:iterations:=2",
            "-p",
            "planner:elites:=2",
            log=tmp / "planner.log",
        ),
        start(
            "vjepa2_planner_node.goal_selector", "-p", f"goals_dir:={goals}", log=tmp / "goals.log"
        ),
        start("vjepa2_planner_node.foxglove_bridge", "-p", f"port:={port}", log=tmp / "fox.log"),
    ]
    try:

        def connected():
            try:
                return FoxgloveClient(f"ws://127.0.0.1:{port}")
            except OSError:
                return None

        client = wait_until(connected, 60, lambda: (tmp / "fox.log").read_text())
        client.tmp, client.goals = tmp, goals
        # the stack is up once the planner has loaded its weights (slow on a loaded CI
        # machine): the tests below then time their own steps only
        planner_log = tmp / "planner.log"
        wait_until(
            lambda: "ready: " in planner_log.read_text(errors="replace"),
            120,
            lambda: planner_log.read_text()[-2000:],
            poll=0.5,
        )
        yield client
        client.ws.close()
    finally:
        stop(procs)


def test_camera_frame_and_planner_status_stream(view) -> None:
    view.subscribe("/camera/image_raw", "/planner/status")
    assert view.channels["/camera/image_raw"]["schemaName"] == "foxglove.RawImage"
    view.wait(lambda: view.messages.get("/camera/image_raw"), 60, "a camera frame")
    img = protobuf_fields(view.messages["/camera/image_raw"][-1])
    w, h, enc, data = img[2], img[3], img[4], img[6]
    assert (w, h, enc) == (64, 64, b"rgb8") and len(data) == 64 * 64 * 3
    # fake cell frames encode the hand's x in the red channel: not blank
    assert np.frombuffer(data, np.uint8).reshape(64, 64, 3)[..., 0].max() > 0
    # the planner's "ready" status is re-sent for clients that join after it
    st = view.wait(
        lambda: view.latest_json("/planner/status"),
        60,
        lambda: "planner status; planner log: " + (view.tmp / "planner.log").read_text()[-1500:],
    )[-1]
    assert st["state"] == "idle" and st["message"] == "ready"


def test_goal_services_and_plan_through_foxglove(view) -> None:
    assert {
        "/goals/list",
        "/goals/capture",
        "/goals/set_active",
        "/planner/plan",
        "/planner/stop",
    } <= set(view.wait(lambda: view.services, 20, "services"))
    assert view.call("/goals/list", {}) == {"names": [], "active": ""}
    res = view.call("/goals/capture", {"name": "fox_goal", "set_active": True})
    assert res["success"], res
    assert (view.goals / "fox_goal.png").is_file()
    assert view.call("/goals/list", {}) == {"names": ["fox_goal"], "active": "fox_goal"}
    bad = view.call("/goals/set_active", {"name": "nope"})
    assert not bad["success"] and "nope" in bad["message"]
    # the active goal image now streams too
    view.subscribe("/goals/active_image", "/planner/energy")
    view.wait(lambda: view.messages.get("/goals/active_image"), 20, "active goal image")
    # plan toward the active goal from the app and see the planner finish: the goal is
    # the current view, so its observed energy is 0 and it counts as reached at once
    res = view.call("/planner/plan", {"step_budgets": [1]})
    assert res["accepted"], res

    def finished():
        return [
            s for s in view.latest_json("/planner/status") if s["state"] in ("succeeded", "failed")
        ]

    st = view.wait(
        finished, 60, lambda: f"plan finished; got {view.latest_json('/planner/status')[-5:]}"
    )
    assert st[-1]["state"] == "succeeded" and "1/1 goals reached" in st[-1]["message"]
    assert st[-1]["goal_name"] == "fox_goal"
    assert view.latest_json("/planner/energy"), "energy channel stayed empty"
    assert view.call("/planner/stop", {})["success"]


def test_layout_names_only_what_the_bridge_serves(view) -> None:
    """config/foxglove_layout.json: every topic and service its panels use exists."""
    from .rosproc import REPO

    layout = json.loads((REPO / "config" / "foxglove_layout.json").read_text())
    topics, services = set(), set()
    for cfg in layout["configById"].values():
        if "imageMode" in cfg:
            topics.add(cfg["imageMode"]["imageTopic"])
        topics |= set(cfg.get("topics", {}))
        topics |= {p["value"].split(".")[0] for p in cfg.get("paths", [])}
        if "topicPath" in cfg:
            topics.add(cfg["topicPath"])
        if "serviceName" in cfg:
            services.add(cfg["serviceName"])
            json.loads(cfg["requestPayload"])
    view.wait(
        lambda: topics <= set(view.channels) and services <= set(view.services),
        10,
        lambda: f"{topics - set(view.channels)} / {services - set(view.services)}",
    )
    assert len(topics) == 6 and len(services) == 5
