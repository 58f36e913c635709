"""ROS 2 nodes of the vjepa2 stack: sim cell, Franka bridge, world model, planner, goals."""
