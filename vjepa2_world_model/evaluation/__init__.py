"""Evaluation as plain logic (no ROS): tasks (goal sampling, success), reports, media.

The ROS client and the orchestration that run episodes against the stack
(`vjepa2 eval`, `vjepa2 demo`) are the top-level package ``vjepa2_eval``.
"""
