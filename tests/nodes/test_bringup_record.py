"""`vjepa2 bringup` starts the YAML's processes and fails naming a bad parameter;
`vjepa2 record` writes an MCAP bag that `vjepa2 replay` publishes again."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from sensor_msgs.msg import Image
from vjepa2_interfaces.srv import ListGoals

from vjepa2_planner_node.bag_tools import read_bag

from .rosproc import REPO, Client, start, stop, wait_until


def _vjepa2(*args: str, log: Path) -> subprocess.Popen:
    import os

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "vjepa2_world_model.cli", *args],
        cwd=REPO,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _bringup_yaml(tmp: Path, ckpt: str, planner_extra: dict) -> Path:
    data = {
        "arguments": {
            "checkpoint": ckpt,
            "device": "cpu",
            "camera_topic": "/camera/image_raw",
            "goals_dir": str(tmp / "goals"),
        },
        "processes": {
            "fake_cell": {"module": "tests.nodes.fake_cell", "parameters": {}},
            "planner_node": {
                "module": "vjepa2_planner_node.planner_node",
                "parameters": {
                    "checkpoint": "${checkpoint}",
                    "device": "${device}",
                    "camera_topic": "${camera_topic}",
                    "goals_dir": "${goals_dir}",
                    **planner_extra,
                },
            },
            "goal_selector": {
                "module": "vjepa2_planner_node.goal_selector",
                "parameters": {"goals_dir": "${goals_dir}"},
            },
        },
    }
    path = tmp / "test_bringup.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_bringup_rejects_bad_arguments_before_starting(tmp_path) -> None:
    ok = f"checkpoint:={tmp_path}"
    for args, param in [
        ([ok, "device:=tpu"], "device"),
        (["checkpoint:=/no/such"], "checkpoint"),
        ([ok, "camera_topic:=bad topic"], "camera_topic"),
        ([ok, "use_sim:=perhaps"], "use_sim"),
        ([ok, "robot:=x"], "robot"),
        ([ok, "preset:=turbo"], "preset"),
    ]:
        r = subprocess.run(
            [sys.executable, "-m", "vjepa2_world_model.cli", "bringup", "pick_place", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 2 and f"parameter '{param}'" in r.stderr, r.stderr


def test_bringup_starts_nodes_and_stops_on_a_node_parameter_error(
    tmp_path, tiny_checkpoint
) -> None:
    good = _bringup_yaml(tmp_path, tiny_checkpoint, {"samples": 8, "iterations": 1})
    p = _vjepa2("bringup", str(good), log=tmp_path / "good.log")
    c = Client("bringup_client")
    try:
        r = c.call(ListGoals, "/goals/list", ListGoals.Request(), timeout=90)
        assert r.names == []
        frames = c.collect(Image, "/camera/image_raw")
        wait_until(lambda: frames, 10, "camera from the bringup's fake cell")
        assert p.poll() is None
    finally:
        c.close()
        stop([p])
    assert p.returncode == 0  # Ctrl-C stops all processes cleanly

    bad = _bringup_yaml(tmp_path, tiny_checkpoint, {"preset": "turbo"})
    p = _vjepa2("bringup", str(bad), log=tmp_path / "bad.log")
    try:
        rc = p.wait(timeout=90)
    finally:
        stop([p])
    text = (tmp_path / "bad.log").read_text()
    assert rc == 2 and "parameter 'preset'" in text, text


def test_record_then_replay(tmp_path) -> None:
    cell = start("tests.nodes.fake_cell", "-p", "camera_hz:=10.0", log=tmp_path / "cell.log")
    bag = tmp_path / "bag"
    try:
        time.sleep(2.0)
        rec = _vjepa2(
            "record",
            "-o",
            str(bag),
            "--duration",
            "4",
            "--topics",
            "/camera/image_raw",
            "/franka/ee_state",
            log=tmp_path / "rec.log",
        )
        assert rec.wait(timeout=60) == 0, (tmp_path / "rec.log").read_text()
    finally:
        stop([cell])
    msgs = read_bag(bag)
    topics = {m[0] for m in msgs}
    assert topics == {"/camera/image_raw", "/franka/ee_state"}
    n_frames = sum(m[0] == "/camera/image_raw" for m in msgs)
    assert n_frames >= 10
    stamps = np.array([m[2] for m in msgs if m[0] == "/camera/image_raw"]) * 1e-9
    c = Client("replay_cli_client")
    try:
        got = c.collect(Image, "/camera/image_raw")
        times: list[float] = []
        c.node.create_subscription(
            Image, "/camera/image_raw", lambda _m: times.append(time.monotonic()), 10
        )
        rp = _vjepa2(
            "replay",
            str(bag),
            "--topics",
            "/camera/image_raw",
            "--wait",
            "20",
            log=tmp_path / "replay.log",
        )
        assert rp.wait(timeout=60) == 0, (tmp_path / "replay.log").read_text()
        wait_until(lambda: len(got) >= n_frames - 1, 5, "replayed frames")
    finally:
        c.close()
    # original timing: replayed inter-frame gaps follow the recorded ones
    gaps_rec = np.diff(stamps)
    gaps_rep = np.diff(np.array(times))
    k = min(len(gaps_rec), len(gaps_rep))
    assert abs(np.median(gaps_rep[:k]) - np.median(gaps_rec[:k])) < 0.03
    assert abs((times[-1] - times[0]) - (stamps[-1] - stamps[0])) < 0.5
