"""End-to-end evaluation and the demo against a running stack (`vjepa2 eval`, `vjepa2 demo`).

ROS clients (rclpy): ``client`` drives episodes through the stack's public interfaces,
``frame_log`` keeps the planned-from camera frames; ``run`` and ``demo`` start the
bringup and orchestrate episodes. The ROS-free parts (tasks, reports, media) are
``vjepa2_world_model.evaluation``. Dependencies: vjepa2_eval -> vjepa2_planner_node
(image codec, QoS, ROS env) -> vjepa2_world_model.
"""
