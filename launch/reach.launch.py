"""ros2 launch vjepa2 reach.launch.py [robot_ip:=..] [use_sim:=..] [checkpoint:=..]
[device:=..] [camera_topic:=..] [goals_dir:=..] [rviz:=..]; nodes + params: config/reach.yaml."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _vjepa2_launch import generate  # noqa: E402


def generate_launch_description():  # noqa: ANN201
    return generate("reach")
