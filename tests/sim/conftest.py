"""Sim/bridge tests: one random ROS_DOMAIN_ID and loopback robot address per session.

Set at import time so every process a test starts inherits them; parallel test sessions
of other developers on this machine neither see our topics nor our franky-sim ports.
"""

from __future__ import annotations

import os
import random

from vjepa2_planner_node.ros_env import ensure_ros_env

_rng = random.SystemRandom()
os.environ["ROS_DOMAIN_ID"] = str(_rng.randint(1, 101))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_LOG_DIR", "/tmp/vjepa2_test_roslogs")
os.environ.setdefault("MUJOCO_GL", "egl")
# franky-sim binds robot 1337 / gripper 1338 on this address: unique per session.
os.environ["VJEPA2_TEST_ROBOT_IP"] = (
    f"127.{_rng.randint(1, 254)}.{_rng.randint(1, 254)}.{_rng.randint(1, 254)}"
)
ensure_ros_env()
