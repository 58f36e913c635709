"""Node tests: one random ROS_DOMAIN_ID per test session, localhost discovery only.

Set at import time so every node process a test starts inherits it and parallel
sessions of other developers on the same machine never see each other.
"""

from __future__ import annotations

import os
import random

from vjepa2_planner_node.ros_env import ensure_ros_env

os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 101))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_LOG_DIR", "/tmp/vjepa2_test_roslogs")
ensure_ros_env()
