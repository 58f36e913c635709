"""A toy encoder/predictor pair with the model API, for node tests before trained weights.

``python -m tests.nodes.toy_model --ros-args ...`` runs the planner_node process
(world_model + planner nodes) on this toy model instead of a checkpoint.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F


class ToyEncoder(torch.nn.Module):
    """(B,H,W,3) uint8 -> (B, 64, 32): 8x8 grid of patch projections."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.proj = torch.nn.Parameter(torch.randn(3, 32, generator=g), requires_grad=False)

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().permute(0, 3, 1, 2) / 255.0
        x = F.adaptive_avg_pool2d(x, 8).flatten(2).transpose(1, 2)  # (B,64,3)
        return x @ self.proj


class ToyCache:
    def __init__(self) -> None:
        self.frames = 0


class ToyPredictor(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.w = torch.nn.Parameter(torch.randn(7, 64, 32, generator=g), requires_grad=False)

    def new_cache(self) -> ToyCache:
        return ToyCache()

    def step(self, z, a, s, cache):
        cache.frames += 1
        return z + torch.einsum("bk,knd->bnd", a.float(), self.w)


def toy_core(stale_after: float = 1.0):
    from vjepa2_world_model.planning.agent import WorldModelCore

    return WorldModelCore(ToyEncoder(), ToyPredictor(), "cpu", stale_after)


def main() -> int:
    from vjepa2_planner_node.ros_env import ensure_ros_env

    ensure_ros_env()
    import rclpy

    from vjepa2_planner_node.params import ParamError
    from vjepa2_planner_node.planner_node import PlannerNode
    from vjepa2_planner_node.ros_common import run_nodes
    from vjepa2_planner_node.world_model_node import WorldModelNode, exit_code

    torch.set_num_threads(1)
    rclpy.init(args=sys.argv)
    try:
        wm = WorldModelNode(core=toy_core())
        planner = PlannerNode(wm.core)
    except ParamError as e:
        print(f"planner_node: {e}", file=sys.stderr)
        return 2
    run_nodes([wm, planner])
    return exit_code([wm])


if __name__ == "__main__":
    sys.exit(main())
