"""SIGINT / SIGTERM -> KeyboardInterrupt in the main thread, for clean stops.

Long-running commands (bringup, eval, demo) stop their child processes and the robot
motion in ``finally`` blocks; that only works if ``kill`` (SIGTERM) raises like Ctrl-C does,
and not at all if rclpy's own handlers merely shut its context down.
"""

from __future__ import annotations

import signal
import threading


def _raise_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def interrupt_on_signals(override_ignored_sigint: bool = False) -> bool:
    """Make SIGTERM (and SIGINT) raise KeyboardInterrupt; False off the main thread.

    A background job of a non-interactive shell starts with SIGINT ignored; that choice is
    kept unless ``override_ignored_sigint`` (a supervisor that must always stop its children).
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    signal.signal(signal.SIGTERM, _raise_interrupt)
    if override_ignored_sigint or signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _raise_interrupt)
    return True
