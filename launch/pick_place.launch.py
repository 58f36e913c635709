"""Launch the vjepa2 pick_place stack: simulated or real FR3, bridge, world model + planner, goals.

    ros2 launch vjepa2 pick_place.launch.py --show-args        # arguments, descriptions, choices
    ros2 launch vjepa2 pick_place.launch.py                    # simulated cell, shipped model
    ros2 launch vjepa2 pick_place.launch.py use_sim:=false robot_ip:=172.16.0.2 \\
        camera_topic:=/camera/color/image_raw checkpoint:=/path/to/weights goals_dir:=/path

Processes and which parameters each argument sets: config/pick_place.yaml (read by
`vjepa2 bringup pick_place` too); fixed node parameters: config/pick_place.params.yaml (standard
ros__parameters file, replace with params_file:=...). A required node that exits shuts the
launch down. Built by launch/_vjepa2_launch.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _vjepa2_launch import generate


def generate_launch_description():
    return generate("pick_place")
