"""SIGTERM/SIGINT become KeyboardInterrupt; an ignored SIGINT stays ignored unless overridden."""

from __future__ import annotations

import os
import signal
import time

import pytest

from vjepa2_planner_node.interrupts import interrupt_on_signals


@pytest.fixture(autouse=True)
def restore_handlers():
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


def _deliver(sig: int) -> None:
    os.kill(os.getpid(), sig)
    time.sleep(0.05)  # the handler runs in the main thread between bytecodes


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_raises_keyboard_interrupt(sig: int) -> None:
    assert interrupt_on_signals()
    with pytest.raises(KeyboardInterrupt, match=f"signal {int(sig)}"):
        _deliver(sig)


def test_ignored_sigint_is_kept_unless_overridden() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    interrupt_on_signals()
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    _deliver(signal.SIGINT)  # ignored: nothing raised
    interrupt_on_signals(override_ignored_sigint=True)
    with pytest.raises(KeyboardInterrupt):
        _deliver(signal.SIGINT)
