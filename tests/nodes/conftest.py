"""Node tests: one random ROS_DOMAIN_ID per test session, localhost discovery only.

Set at import time so every node process a test starts inherits it and parallel
sessions of other developers on the same machine never see each other.
"""

from __future__ import annotations

import os
import random

import pytest

from vjepa2_planner_node.ros_env import ensure_ros_env

os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 101))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_LOG_DIR", "/tmp/vjepa2_test_roslogs")
ensure_ros_env()


def make_tiny_checkpoint(directory) -> str:  # noqa: ANN001
    """Random-init vit_tiny + ac_tiny saved with save_model (stand-in for trained weights)."""
    import torch

    from vjepa2_world_model.checkpoints import build_model, save_model

    torch.manual_seed(0)
    save_model(build_model("vit_tiny"), directory / "encoder.safetensors")
    save_model(build_model("ac_tiny"), directory / "ac_predictor.safetensors")
    return str(directory)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> str:  # noqa: ANN001
    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny_ckpt"))
