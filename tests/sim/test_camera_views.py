"""The cell's views: the built-in defaults match config/sim_cell.yaml, and the wrist
configuration's stacked view is the exterior camera above the wrist strip, which sees the
hand close."""

from __future__ import annotations

import os

import numpy as np
import pytest
import yaml

os.environ.setdefault("MUJOCO_GL", "egl")

from vjepa2_world_model.resources import data_root
from vjepa2_world_model.sim import config as sim_config
from vjepa2_world_model.sim.render import stacked_views


def test_builtin_defaults_match_the_shipped_cell_config() -> None:
    shipped = yaml.safe_load((data_root() / "config" / "sim_cell.yaml").read_text())
    for key in ("robot", "cameras", "render"):
        assert sim_config.DEFAULTS[key] == shipped[key], key


def test_stacked_view_validation() -> None:
    cams = {"a": {}, "b": {}, "s": {"stack": [["a", 0.5], ["b", 0.4]]}}
    with pytest.raises(ValueError, match="sum to 1"):
        stacked_views(cams)
    with pytest.raises(ValueError, match="unknown"):
        stacked_views({"a": {}, "s": {"stack": [["a", 0.5], ["zz", 0.5]]}})


def test_published_view_stacks_exterior_and_wrist_and_sees_the_hand_close() -> None:
    from bench.scripted_moves import drive_to, hand_around_cube
    from vjepa2_world_model.sim.direct import DirectSim

    sim = DirectSim(sim_config.load_config(data_root() / "config" / "sim_cell_wrist.yaml"))
    assert sim.camera == "cell_cam"
    _, grasp = hand_around_cube(sim, 7)
    view = sim.render(256, 256)
    assert view.shape == (256, 256, 3)
    np.testing.assert_array_equal(view[:192], sim.render(256, 192, "ext_cam"))
    np.testing.assert_array_equal(view[192:], sim.render(256, 64, "wrist_cam"))
    drive_to(sim, grasp, dgripper=1.0)
    closed = sim.render(256, 256)
    changed = np.abs(closed.astype(int) - view).sum(-1) > 30
    # closing the hand changes far more of the wrist strip than of the exterior view
    assert changed[192:].mean() > 0.05
    assert changed[192:].mean() > 5 * changed[:192].mean()
