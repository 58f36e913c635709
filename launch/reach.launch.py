"""Launch the vjepa2 reach stack: simulated or real FR3, bridge, world model + planner, goals.

    ros2 launch vjepa2 reach.launch.py --show-args        # arguments, descriptions, choices
    ros2 launch vjepa2 reach.launch.py                    # simulated cell, shipped model
    ros2 launch vjepa2 reach.launch.py use_sim:=false robot_ip:=172.16.0.2 \\
        camera_topic:=/camera/color/image_raw checkpoint:=/path/to/weights goals_dir:=/path

Processes and which parameters each argument sets: config/reach.yaml (read by
`vjepa2 bringup reach` too); fixed node parameters: config/reach.params.yaml (standard
ros__parameters file, replace with params_file:=...). A required node that exits shuts the
launch down. Built by launch/_vjepa2_launch.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _vjepa2_launch import generate


def generate_launch_description():
    return generate("reach")
