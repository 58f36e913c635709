"""ROS 2 nodes of the vjepa2 stack: sim cell, Franka bridge, world model, planner, goals."""

import vjepa2_world_model  # noqa: F401  (sets OMP_WAIT_POLICY before anything imports torch)
