"""`vjepa2 replay` on damaged / hostile bags and signals (real replay processes)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vjepa2_planner_node.bag_tools import BagReadError, message_class, read_bag, typestore

REPO = Path(__file__).resolve().parents[2]
BAG = Path(__file__).parent / "fixtures" / "replay_sim"


def _replay(bag: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "vjepa2_world_model.cli", "replay", str(bag), "--wait", "0", *extra],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _write_bag(path: Path, msgs: list[tuple[str, str, int, object]]) -> None:
    from rosbags.rosbag2 import StoragePlugin, Writer

    ts = typestore()
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conns: dict = {}
        for topic, msgtype, stamp, msg in msgs:
            if topic not in conns:
                conns[topic] = w.add_connection(topic, msgtype, typestore=ts)
            w.write(conns[topic], stamp, ts.serialize_cdr(msg, msgtype))


def test_unknown_message_package_is_not_imported() -> None:
    sys.modules.pop("this", None)
    with pytest.raises(ValueError, match="not a known message package"):
        message_class("this/msg/Zen")
    assert "this" not in sys.modules
    with pytest.raises(ValueError, match="bad message type"):
        message_class("os/srv/system")
    assert message_class("std_msgs/msg/String").__name__ == "String"


def test_bit_rot_is_reported_with_nonzero_exit(tmp_path: Path) -> None:
    bag = tmp_path / "rot"
    shutil.copytree(BAG, bag)
    mcap = bag / "bag.mcap"
    data = bytearray(mcap.read_bytes())
    # 4 KB of rot at 80 %: inside the record structure (rot inside image pixels is
    # undetectable: these MCAP chunks carry no CRC)
    mid = int(len(data) * 0.8)
    data[mid : mid + 4096] = np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes()
    mcap.write_bytes(bytes(data))
    with pytest.raises(BagReadError, match="messages"):
        read_bag(bag)
    p = _replay(bag, "--rate", "50")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 1, (out, err)
    assert "LOST" in err and "messages" in err, err


def test_sigterm_stops_replay_during_a_long_gap(tmp_path: Path) -> None:
    ts = typestore()
    msg = ts.types["std_msgs/msg/String"](data="x")
    bag = tmp_path / "gap"
    _write_bag(
        bag,
        [
            ("/gap/a", "std_msgs/msg/String", 10**9, msg),
            ("/gap/a", "std_msgs/msg/String", 10**9 + 600 * 10**9, msg),
        ],
    )
    p = _replay(bag)
    time.sleep(4.0)  # started, waiting for the second message 600 s later
    assert p.poll() is None
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    try:
        out, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert time.monotonic() - t0 < 10
    assert "replayed 1 messages" in out and "stopped" in out, (out, err)
