"""The bridge keeps a cancel that arrives before its goal's execute callback has started."""

from __future__ import annotations

import threading
import types

from vjepa2_planner_node.franka_bridge import CancelRegistry, FrankaBridge


def _handle(uuid: bytes, active: bool = True) -> types.SimpleNamespace:
    return types.SimpleNamespace(goal_id=types.SimpleNamespace(uuid=list(uuid)), is_active=active)


def test_cancel_before_execute_sticks() -> None:
    """rclpy may run the cancel callback before the execute callback of an accepted goal:
    the event the execute callback then registers is already set (the arm never moves)."""
    bridge = types.SimpleNamespace(_cancels=CancelRegistry())
    key = bytes(range(16))
    FrankaBridge._on_cancel(bridge, _handle(key))  # cancel first ...
    ev = bridge._cancels.register(key)  # ... then the execute callback starts
    assert ev.is_set()
    bridge._cancels.release(key)
    assert len(bridge._cancels) == 0
    # the usual order: registered, then canceled
    ev = bridge._cancels.register(key)
    assert not ev.is_set()
    FrankaBridge._on_cancel(bridge, _handle(key))
    assert ev.is_set()
    bridge._cancels.release(key)
    # a cancel for a goal that is no longer active leaves nothing behind
    FrankaBridge._on_cancel(bridge, _handle(key, active=False))
    assert len(bridge._cancels) == 0


def test_cancel_and_register_race() -> None:
    """Cancel and execute on two threads, in either order: the cancel is never lost."""
    reg = CancelRegistry()
    for i in range(300):
        key = i.to_bytes(16, "little")
        got: list[threading.Event] = []
        start = threading.Barrier(2)

        def execute(key: bytes = key, got: list = got, start: threading.Barrier = start) -> None:
            start.wait()
            got.append(reg.register(key))

        def cancel(key: bytes = key, start: threading.Barrier = start) -> None:
            start.wait()
            reg.request(key)

        threads = [threading.Thread(target=execute), threading.Thread(target=cancel)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert got[0].is_set(), i
        reg.release(key)
    assert len(reg) == 0
