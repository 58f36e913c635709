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


def make_tiny_checkpoint(directory) -> str:
    """vit_tiny + ac_tiny with deterministic random weights, saved with save_model.

    The values depend only on parameter names and shapes (not on the models' own init
    code), so the replay fixture recorded with them stays valid while the architecture
    does: matrices N(0, 0.02) from a per-name seed, norm weights 1, biases 0.
    """
    import zlib

    import torch

    from vjepa2_world_model.checkpoints import build_model, save_model

    for name, fname in (("vit_tiny", "encoder"), ("ac_tiny", "ac_predictor")):
        model = build_model(name)
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if pname.endswith("bias"):
                    p.zero_()
                elif p.ndim == 1:
                    p.fill_(1.0)
                else:
                    g = torch.Generator().manual_seed(zlib.crc32(pname.encode()))
                    p.copy_(torch.randn(p.shape, generator=g) * 0.02)
        save_model(model, directory / f"{fname}.safetensors")
    return str(directory)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> str:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny_ckpt"))
