"""Creating action clients on a node that is already being spun must not kill the executor.

rclpy's own ActionClient registers itself with the node before creating its lock; an
executor thread that lists waitables in that window dies (seen as a CI flake: the test
client stopped receiving messages). ``ros_common.ActionClient`` closes the window.
"""

from __future__ import annotations

import time

from std_msgs.msg import String
from vjepa2_interfaces.action import ExecuteDelta

from vjepa2_planner_node.ros_common import ActionClient

from .rosproc import Client


def test_action_clients_created_while_spinning_keep_the_executor_alive() -> None:
    c = Client("race_client")
    try:
        got = c.collect(String, "/race/chatter")
        pub = c.node.create_publisher(String, "/race/chatter", 10)
        clients = [ActionClient(c.node, ExecuteDelta, f"/race/action_{i}") for i in range(200)]
        assert c.thread.is_alive(), "executor thread died while action clients were created"
        deadline = time.monotonic() + 10.0
        while not got and time.monotonic() < deadline:
            pub.publish(String(data="ping"))
            time.sleep(0.05)
        assert got, "the spun node received nothing after the action clients were created"
        assert c.thread.is_alive() and len(clients) == 200
    finally:
        c.close()
