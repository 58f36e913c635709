"""Node processes stop once and cleanly: SIGINT twice, SIGTERM, and their parent's death."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from vjepa2_interfaces.srv import ListGoals

from .rosproc import REPO, Client, start, stop, wait_until


def _goal_selector(tmp_path, log):  # noqa: ANN001, ANN202
    return start("vjepa2_planner_node.goal_selector", "-p", f"goals_dir:={tmp_path}/goals",
                 log=log)


def _ready(c: Client) -> None:
    c.call(ListGoals, "/goals/list", ListGoals.Request(), timeout=60)


@pytest.mark.parametrize("signals", [[signal.SIGINT, signal.SIGINT], [signal.SIGTERM],
                                     [signal.SIGINT, signal.SIGTERM]])
def test_signals_stop_the_node_once_without_traceback(tmp_path, signals) -> None:
    log = tmp_path / "gs.log"
    p = _goal_selector(tmp_path, log)
    c = Client("signal_client")
    try:
        _ready(c)
        for s in signals:  # a supervisor's SIGINT to the group, then more
            os.kill(p.pid, s)
            time.sleep(0.02)
        rc = p.wait(timeout=20)
    finally:
        c.close()
        stop([p])
    text = log.read_text()
    assert rc == 0, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    assert "stopping:" in text  # the orderly path ran (the second signal may find it done)


def test_bridge_exits_when_its_parent_dies(tmp_path) -> None:
    """An orphaned bridge (its launcher killed -9) stops and exits by itself."""
    log = tmp_path / "bridge.log"
    code = ("import subprocess, sys; p = subprocess.Popen([sys.executable, '-m', "
            "'vjepa2_planner_node.franka_bridge', '--ros-args', '-p', "
            "'robot_ip:=127.0.0.251'], stdout=open(sys.argv[1], 'w'), "
            "stderr=subprocess.STDOUT); print(p.pid, flush=True); p.wait()")
    parent = subprocess.Popen([sys.executable, "-c", code, str(log)], cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)},
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    child = int(parent.stdout.readline())
    try:
        wait_until(lambda: "franka_bridge: robot" in log.read_text(), 60, "bridge up")
        parent.kill()
        parent.wait()
        wait_until(lambda: not os.path.exists(f"/proc/{child}") or
                   open(f"/proc/{child}/stat").read().split()[2] == "Z", 15,
                   lambda: "orphaned bridge to exit:\n" + log.read_text())
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    text = log.read_text()
    assert "parent process exited" in text and "Traceback" not in text, text
