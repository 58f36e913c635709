"""The real arm without ROS: libfranka driver (``franka_control``) and delta safety limits."""
