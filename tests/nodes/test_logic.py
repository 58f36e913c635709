"""Plain logic under the nodes (no ROS graph): goals, params, bringup.

The planner loop itself: tests/planning/test_agent.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vjepa2_planner_node import bringup
from vjepa2_planner_node.goal_library import GoalLibrary
from vjepa2_planner_node.params import (
    CEMSettings,
    ParamError,
    check_device,
    check_goal_name,
    load_readout,
)
from vjepa2_world_model.planning.agent import GoalRun, Observation, make_planner

from .toy_model import toy_core


def test_goal_library(tmp_path) -> None:
    lib = GoalLibrary(tmp_path / "goals")
    img = np.random.default_rng(0).integers(0, 255, (8, 6, 3), dtype=np.uint8)
    lib.save("cup_in_hand", img)
    assert lib.names() == ["cup_in_hand"] and "cup_in_hand" in lib
    np.testing.assert_array_equal(lib.load("cup_in_hand"), img)  # RGB order kept
    with pytest.raises(ValueError, match="already exists"):
        lib.save("cup_in_hand", img)
    lib.save("cup_in_hand", img[::-1].copy(), overwrite=True)
    with pytest.raises(KeyError, match="no goal named 'x'"):
        lib.load("x")
    with pytest.raises(ValueError, match="invalid goal name"):
        lib.save("../evil", img)
    lib.delete("cup_in_hand")
    assert lib.names() == []


def test_params() -> None:
    assert check_device("cuda:1") == "cuda:1"
    with pytest.raises(ParamError, match="parameter 'device'"):
        check_device("gpu")
    with pytest.raises(ParamError, match="parameter 'name'"):
        check_goal_name("a b")


def test_state_alpha_needs_a_readout_and_steers_the_plan(tmp_path) -> None:
    from vjepa2_world_model.checkpoints import save_model
    from vjepa2_world_model.models.readout import ReadoutConfig, StateReadout

    core = toy_core()
    img = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    z0 = core.encode(img)
    obs = Observation(1, z=z0, state=np.zeros(7))
    cfg = CEMSettings(horizon=1, samples=64, iterations=4, elites=8, seed=3, state_alpha=20.0)
    with pytest.raises(ParamError, match="readout"):
        cfg.state_energy(None)
    head = StateReadout(ReadoutConfig(embed_dim=32, num_tokens=64))
    torch.nn.init.zeros_(head.mlp[-1].weight)
    with torch.no_grad():  # a head that reads the goal state (-5 cm in x) from any image
        head.mlp[-1].bias.copy_(torch.tensor([-0.05, 0, 0, 0, 0, 0, 0]))
    path = save_model(head, tmp_path / "readout.safetensors")
    plan = make_planner(core, cfg.planner_config(), cfg.state_energy(load_readout(str(path))))(
        obs, z0
    )
    assert plan.action[0] < -0.03  # toward the readout's goal state, not the image's
    with pytest.raises(ParamError, match="readout"):
        load_readout(str(tmp_path / "missing.safetensors"))


# -- bringup: one YAML, two front ends -------------------------------------------------
def test_bringup_resolve_and_validation(tmp_path) -> None:
    b = bringup.load_bringup("pick_place")
    assert set(bringup.LAUNCH_ARGUMENTS) <= set(b.arguments)
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    specs = bringup.resolve(b, {"checkpoint": str(ckpt), "use_sim": "false"})
    names = [s.name for s in specs]
    assert "sim_cell" not in names and "rviz" not in names
    assert {"franka_bridge", "planner_node", "goal_selector"} <= set(names)
    planner = next(s for s in specs if s.name == "planner_node")
    assert planner.parameters["checkpoint"] == str(ckpt)
    assert planner.parameters["device"] == "auto"
    specs = bringup.resolve(b, {"checkpoint": str(ckpt), "use_sim": "true", "rviz": "true"})
    assert "sim_cell" in [s.name for s in specs]
    rviz = next(s for s in specs if s.name == "rviz")
    assert not rviz.pip and rviz.arguments[1].endswith("config/vjepa2.rviz")
    assert not rviz.required
    for bad, param in [
        ({"device": "tpu"}, "device"),
        ({"checkpoint": "/nope"}, "checkpoint"),
        ({"camera_topic": "not a topic"}, "camera_topic"),
        ({"use_sim": "maybe"}, "use_sim"),
        ({"robot": "x"}, "robot"),
        ({"hold_margin": "soon"}, "hold_margin"),
        ({"gripper_margin": "x"}, "gripper_margin"),
    ]:
        with pytest.raises(ParamError, match=f"parameter '{param}'"):
            bringup.resolve(b, {"checkpoint": str(ckpt), **bad})
    assert planner.parameters["hold_margin"] == 0.0  # hold rule on by default
    assert planner.parameters["gripper_margin"] == 0.002
    off = bringup.resolve(b, {"checkpoint": str(ckpt), "hold_margin": "-1"})
    # an integer-looking value still reaches the node as the double it declares
    margin = next(s for s in off if s.name == "planner_node").parameters["hold_margin"]
    assert margin == -1.0 and isinstance(margin, float)
    assert planner.parameters["goals_dir"] == str(bringup.share_dir() / "goals/pick_place")


# the launch files themselves: tests/nodes/test_launch_files.py


def test_hold_timeout_is_finite_by_default() -> None:
    from vjepa2_planner_node.planner_node import PLANNER_PARAMS

    assert math.isfinite(GoalRun.__dataclass_fields__["hold_timeout_s"].default)
    assert 0 < PLANNER_PARAMS["hold_timeout_s"] < 60


def test_goal_library_bounds_image_size(tmp_path) -> None:
    """A PNG header claiming 40000 x 40000 -> a named ValueError, never cv2.error."""
    import struct
    import zlib

    lib = GoalLibrary(tmp_path)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + chunk(b"IEND", b"")
    )
    (tmp_path / "huge.png").write_bytes(png)
    with pytest.raises(ValueError, match="40000x40000"):
        lib.load("huge")
    (tmp_path / "fake.png").write_bytes(b"not a png at all, just text" * 10)
    with pytest.raises(ValueError, match="not a PNG"):
        lib.load("fake")
    with pytest.raises(ValueError, match="aspect"):
        lib.save("wide", np.zeros((1, 4096, 3), np.uint8))


def test_planner_settings_take_every_default_from_the_preset() -> None:
    from vjepa2_planner_node.planner_node import PLANNER_PARAMS
    from vjepa2_world_model.planning import get_preset

    node_defaults = CEMSettings(
        preset=PLANNER_PARAMS["preset"],
        horizon=PLANNER_PARAMS["horizon"],
        samples=PLANNER_PARAMS["samples"],
        iterations=PLANNER_PARAMS["iterations"],
        elites=PLANNER_PARAMS["elites"],
        seed=PLANNER_PARAMS["seed"],
        hold_margin=PLANNER_PARAMS["hold_margin"],
        gripper_margin=PLANNER_PARAMS["gripper_margin"],
    )
    assert node_defaults.planner_config() == get_preset("cpu", seed=0)
    assert CEMSettings().planner_config() == get_preset("cpu", seed=0)
    cfg = CEMSettings(hold_margin=0.0, gripper_margin=0.002).planner_config()
    assert (cfg.hold_margin, cfg.gripper_margin) == (0.0, 0.002)
    cfg = CEMSettings(hold_margin=-1.0, gripper_margin=-1.0).planner_config()
    assert (cfg.hold_margin, cfg.gripper_margin) == (None, None)
