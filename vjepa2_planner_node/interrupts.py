"""SIGINT / SIGTERM -> KeyboardInterrupt in the main thread, for clean stops.

Long-running commands (bringup, eval, demo) stop their child processes and the robot
motion in ``finally`` blocks; that only works if ``kill`` (SIGTERM) raises like Ctrl-C does,
and not at all if rclpy's own handlers merely shut its context down.
"""

from __future__ import annotations

import os
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


class ShutdownSignals:
    """SIGINT / SIGTERM handling for node processes: one orderly stop, never a traceback.

    While the node starts (``running`` not called yet) the first signal raises
    KeyboardInterrupt, so a long startup (model load, simulator start) is cut short. Once
    running, the first signal only sets ``requested``: the run loop then stops the nodes in
    order (the planner answers its action client, the bridge stops the arm) while the ROS
    context is still valid. Every later signal is noted on stderr and otherwise ignored,
    so a second Ctrl-C (or a supervisor's SIGINT to the whole process group followed by
    SIGTERM) cannot cut the cleanup short. ``parent_gone`` is True once the process that
    started this one has exited (the node was orphaned: stop, do not keep an arm connected).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.requested = threading.Event()
        self.reason = ""
        self.count = 0
        self._running = False
        self._parent = os.getppid()

    def install(self) -> ShutdownSignals:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._handle)
            signal.signal(signal.SIGINT, self._handle)
        return self

    def running(self) -> None:
        self._running = True

    def _handle(self, signum: int, _frame: object) -> None:
        self.count += 1
        if self.count > 1:
            os.write(
                2,
                f"[{self.name}] {signal.Signals(signum).name} again: still stopping "
                "(cleanup continues)\n".encode(),
            )
            return
        self.reason = signal.Signals(signum).name
        self.requested.set()
        if not self._running:
            raise KeyboardInterrupt(f"signal {signum}")

    def finished(self) -> None:
        """Cleanup is done: ignore SIGINT / SIGTERM from now on (main thread only).

        Python resets its signal handlers to the defaults while the interpreter exits, so
        a second signal arriving then (a supervisor's SIGINT to the whole process group
        followed by ``ros2 launch``'s own SIGINT) would kill the process with -2 after a
        clean stop. An ignored signal stays ignored through the exit; SIGKILL still works.
        """
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def parent_gone(self) -> bool:
        return os.getppid() != self._parent

    def stop_reason(self) -> str:
        """Why the run loop should stop now ('' = keep running)."""
        if self.requested.is_set():
            return f"{self.reason or 'signal'} received"
        if self.parent_gone():
            self.reason = "parent exited"
            self.requested.set()
            return "parent process exited"
        return ""
