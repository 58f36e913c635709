"""SIGTERM/SIGINT become KeyboardInterrupt; an ignored SIGINT stays ignored unless overridden.

Each case runs in a fresh interpreter that starts with Python's own SIGINT handler: a test
run started in the background (``cmd &``, nohup, some CI runners) inherits an *ignored*
SIGINT, which interrupt_on_signals deliberately keeps, and the test process's rclpy context
installs its own handling.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from .rosproc import REPO

PRELUDE = """
import os, signal, time
from vjepa2_planner_node.interrupts import interrupt_on_signals

def deliver(sig):
    os.kill(os.getpid(), sig)
    time.sleep(0.5)  # the handler runs in the main thread between bytecodes
"""


def _run(body: str) -> str:
    code = PRELUDE + textwrap.dedent(body)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.strip()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_raises_keyboard_interrupt(sig: int) -> None:
    got = _run(f"""
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal start has it
        assert interrupt_on_signals()
        try:
            deliver({int(sig)})
            print("no interrupt")
        except KeyboardInterrupt as e:
            print("interrupt:", e)
    """)
    assert got == f"interrupt: signal {int(sig)}", got


def test_ignored_sigint_is_kept_unless_overridden() -> None:
    got = _run("""
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        interrupt_on_signals()
        print("kept" if signal.getsignal(signal.SIGINT) is signal.SIG_IGN else "replaced")
        deliver(signal.SIGINT)  # ignored: nothing raised
        print("survived")
        interrupt_on_signals(override_ignored_sigint=True)
        try:
            deliver(signal.SIGINT)
            print("no interrupt")
        except KeyboardInterrupt:
            print("interrupt")
    """)
    assert got.split() == ["kept", "survived", "interrupt"], got
