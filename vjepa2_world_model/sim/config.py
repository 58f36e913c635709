"""Configuration of the simulated cell (scene, objects, cameras), loaded from YAML.

Defaults live in ``config/sim_cell.yaml``; ``load_config(path)`` reads a file and
falls back to the built-in defaults for anything it leaves out.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from vjepa2_world_model.resources import data_root

REPO_ROOT = data_root()  # the checkout, or <prefix>/share/vjepa2 when installed
DEFAULT_CONFIG_PATH = REPO_ROOT / "config" / "sim_cell.yaml"

DEFAULTS: dict[str, Any] = {
    "robot": {
        "home_q": [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785],
        "initial_gripper_width": 0.08,
    },
    "table": {"center_xy": [0.45, 0.0], "size_xy": [1.3, 1.2], "thickness": 0.04, "height": 0.75},
    "objects": {
        "cube": {"size": 0.04, "mass": 0.05, "rgba": [0.85, 0.15, 0.12, 1.0]},
        "cup": {
            "radius": 0.04,
            "height": 0.08,
            "wall": 0.006,
            "mass": 0.08,
            "rgba": [0.15, 0.35, 0.8, 1.0],
        },
        "spawn_x": [0.38, 0.62],
        "spawn_y": [-0.22, 0.22],
        "min_spacing": 0.12,
    },
    "cameras": {
        "ext_cam": {
            "pos": [1.25, -0.6, 0.8],
            "lookat": [0.4, 0.0, 0.22],
            "fovy": 58.0,
            "width": 256,
            "height": 256,
        }
    },
    # camera: what the cell's camera publishes (a MuJoCo camera or a stacked view)
    "render": {"shadows": False, "offsamples": 0, "camera": "ext_cam"},
}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """Load the cell config (YAML) merged over the defaults.

    ``path=None`` uses ``config/sim_cell.yaml`` when present, else the defaults; a
    relative path not found from the current directory is looked up in the package data
    (``config/sim_cell_wrist.yaml`` works from anywhere).
    """
    if path is None:
        path = DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None
    if path is None:
        return copy.deepcopy(DEFAULTS)
    path = Path(path)
    if not path.is_file() and not path.is_absolute() and (REPO_ROOT / path).is_file():
        path = REPO_ROOT / path  # a shipped config named relative to the package data
    if not path.is_file():
        raise ValueError(f"sim cell config not found: {path}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"sim cell config {path} must be a YAML mapping")
    cfg = _merge(DEFAULTS, data)
    if len(cfg["robot"]["home_q"]) != 7:
        raise ValueError("robot.home_q must have 7 joint values")
    return cfg
