"""Build the tabletop cell on franky-sim's MuJoCo FR3 + Franka hand.

``build_simulator(cfg)`` returns a (not yet started) ``franky_sim`` MujocoSimulator with
the robot, table, cube, cup, walls, lights and the exterior camera added; the sim
server process runs exactly this.  ``build_scene_xml(cfg)`` returns the same scene as an
MJCF string for the direct-stepping simulator, so both render identically.

Frames: robot base at the origin, table top at z = 0, the floor at z = -table height.
Names: robot joints ``robot0_fr3_joint1..7``, fingers ``robot0_finger_joint1/2``,
TCP site ``robot0_tcp`` (the libfranka O_T_EE point, 0.1034 m below the flange),
objects ``cube`` / ``cup`` (free joints ``cube_joint`` / ``cup_joint``), camera ``ext_cam``.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np

from .config import load_config

PREFIX = "robot0_"
ARM_JOINTS = [f"{PREFIX}fr3_joint{i}" for i in range(1, 8)]
FINGER_JOINTS = [f"{PREFIX}finger_joint1", f"{PREFIX}finger_joint2"]
TCP_SITE = f"{PREFIX}tcp"
FINGER_BODIES = (f"{PREFIX}left_finger", f"{PREFIX}right_finger")
HAND_BODY = f"{PREFIX}hand"
TCP_OFFSET = 0.1034  # libfranka default F_T_EE z offset (franky-sim RobotParameters)
OBJECT_NAMES = ("cube", "cup")


def _fmt(values: Any) -> str:
    return " ".join(f"{float(v):.6g}" for v in np.atleast_1d(values))


def camera_xyaxes(pos: Any, lookat: Any, up: Any = (0.0, 0.0, 1.0)) -> np.ndarray:
    """MuJoCo camera ``xyaxes`` (right, up) for a camera at ``pos`` looking at ``lookat``
    (``up``: the direction that should point up in the image, in the same frame)."""
    pos, lookat = np.asarray(pos, float), np.asarray(lookat, float)
    fwd = lookat - pos
    if np.linalg.norm(fwd) < 1e-9:
        raise ValueError("camera pos and lookat coincide")
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, np.asarray(up, float))
    if np.linalg.norm(right) < 1e-6:
        raise ValueError("camera looks straight up/down; give a tilted lookat")
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    return np.concatenate([right, up])


def _find(root: ET.Element, tag: str, name: str) -> ET.Element:
    for elem in root.iter(tag):
        if elem.get("name") == name:
            return elem
    raise ValueError(f"<{tag} name={name!r}> not found in the franky-sim scene")


def _add_cup(worldbody: ET.Element, cfg: dict[str, Any]) -> None:
    """A cup: a bottom disc and a ring of wall boxes standing on it (free body ``cup``).

    The walls start above the disc so only the disc touches the table (few contacts).
    """
    r, h, wall = float(cfg["radius"]), float(cfg["height"]), float(cfg["wall"])
    rgba = _fmt(cfg["rgba"])
    body = ET.SubElement(worldbody, "body", name="cup", pos="0.5 0.15 0.0")
    ET.SubElement(body, "freejoint", name="cup_joint")
    n_seg = 16
    seg_mass = float(cfg["mass"]) * 0.8 / n_seg
    ET.SubElement(
        body,
        "geom",
        name="cup_bottom",
        type="cylinder",
        size=_fmt([r, wall / 2]),
        pos=_fmt([0, 0, wall / 2]),
        rgba=rgba,
        mass=f"{float(cfg['mass']) * 0.2:.6g}",
        friction="1 0.005 0.0001",
    )
    half_w = r * math.tan(math.pi / n_seg) + 1e-4
    for i in range(n_seg):
        ang = 2 * math.pi * i / n_seg
        c = r - wall / 2
        ET.SubElement(
            body,
            "geom",
            name=f"cup_wall{i}",
            type="box",
            size=_fmt([wall / 2, half_w, (h - wall) / 2 - 1e-4]),
            pos=_fmt([c * math.cos(ang), c * math.sin(ang), wall + (h - wall) / 2]),
            euler=_fmt([0, 0, ang]),
            rgba=rgba,
            mass=f"{seg_mass:.6g}",
            friction="1 0.005 0.0001",
        )


def sample_object_poses(cfg: dict[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random non-overlapping upright placements in the spawn region, random yaw.

    Returns name -> [x, y, z, qw, qx, qy, qz] (free-joint qpos).
    """
    ocfg = cfg["objects"]
    heights = {"cube": float(ocfg["cube"]["size"]) / 2 + 1e-3, "cup": 1e-3}
    placed: dict[str, np.ndarray] = {}
    for name in OBJECT_NAMES:
        for _ in range(200):
            xy = np.array([rng.uniform(*ocfg["spawn_x"]), rng.uniform(*ocfg["spawn_y"])])
            if all(np.linalg.norm(xy - p[:2]) >= ocfg["min_spacing"] for p in placed.values()):
                break
        yaw = rng.uniform(-math.pi, math.pi)
        quat = np.array([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])
        placed[name] = np.concatenate([xy, [heights[name]], quat])
    return placed


def parse_object_pose(name: str, value: Any, default: np.ndarray) -> np.ndarray:
    """[x, y] | [x, y, z] | [x, y, z, qw, qx, qy, qz] over ``default`` -> free-joint qpos (7,)."""
    if name not in OBJECT_NAMES:
        raise ValueError(f"unknown object {name!r}; known: {list(OBJECT_NAMES)}")
    v = np.asarray(value, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(v)) or v.size not in (2, 3, 7):
        raise ValueError(f"pose of {name!r} must be 2, 3 or 7 finite values, got {value!r}")
    out = np.asarray(default, dtype=np.float64).copy()
    out[: min(v.size, 3)] = v[:3]
    if v.size == 7:
        n = np.linalg.norm(v[3:])
        if n < 1e-9:
            raise ValueError(f"quaternion of {name!r} is zero")
        out[3:] = v[3:] / n
    return out


def object_qpos_addresses(model: Any) -> dict[str, int]:
    """Object name -> qpos address of its free joint in a compiled cell model."""
    import mujoco

    return {
        n: int(model.jnt_qposadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, f"{n}_joint")])
        for n in OBJECT_NAMES
    }


def build_simulator(cfg: dict[str, Any] | None = None):
    """franky-sim MujocoSimulator with robot + cell, initialised, not started: (sim, robot)."""
    from franky_sim.mujoco_simulator import MujocoSimulator

    cfg = load_config() if cfg is None else cfg
    sim = MujocoSimulator()
    sim.init()
    robot = sim.add_robot(
        initial_q=tuple(float(q) for q in cfg["robot"]["home_q"]),
        initial_hand_width=float(cfg["robot"]["initial_gripper_width"]),
    )
    _decorate(sim.scene, sim.worldbody, cfg)
    return sim, robot


def build_scene_xml(cfg: dict[str, Any] | None = None, gravcomp: bool = False) -> str:
    """The cell as an MJCF string (what ``build_simulator`` compiles).

    ``gravcomp=True`` marks the robot bodies for MuJoCo gravity compensation (used by the
    direct-stepping simulator; it changes dynamics only, not the look).
    """
    sim, _ = build_simulator(cfg)
    if gravcomp:
        for body in sim.worldbody.iter("body"):
            if body.get("name", "").startswith(PREFIX):
                body.set("gravcomp", "1")
    return ET.tostring(sim.scene, encoding="unicode")


def _decorate(scene: ET.Element, worldbody: ET.Element, cfg: dict[str, Any]) -> None:
    table = cfg["table"]
    t_h = float(table["height"])
    # Offscreen buffer big enough for usual camera sizes; neutral haze.
    visual = scene.find("visual")
    ET.SubElement(visual, "global", offwidth="1280", offheight="1024")
    ET.SubElement(visual, "map", znear="0.01", zfar="20")
    for quality in visual.iter("quality"):
        quality.set("offsamples", str(int(cfg["render"].get("offsamples", 0))))
    for head in visual.iter("headlight"):
        head.set("ambient", "0.2 0.2 0.2")
        head.set("diffuse", "0.15 0.15 0.15")

    asset = scene.find("asset")
    for tex in asset.iter("texture"):
        if tex.get("name") == "ground_checker":
            tex.set("rgb1", "0.42 0.42 0.40")
            tex.set("rgb2", "0.48 0.48 0.46")
    ET.SubElement(
        asset,
        "texture",
        name="skybox",
        type="skybox",
        builtin="gradient",
        rgb1="0.75 0.78 0.8",
        rgb2="0.55 0.58 0.6",
        width="256",
        height="256",
    )
    ET.SubElement(
        asset,
        "texture",
        name="wood",
        type="2d",
        builtin="flat",
        rgb1="0.62 0.50 0.36",
        width="64",
        height="64",
    )
    ET.SubElement(
        asset,
        "material",
        name="table_top",
        rgba="0.55 0.45 0.34 1",
        specular="0.05",
        shininess="0.1",
    )
    ET.SubElement(asset, "material", name="wall", rgba="0.82 0.82 0.80 1", specular="0")
    ET.SubElement(asset, "material", name="leg", rgba="0.25 0.25 0.25 1")

    ground = _find(worldbody, "geom", "ground")
    ground.set("pos", f"0 0 {-t_h:.6g}")

    # Table (robot mounted on it, as in DROID), legs to the floor.
    cx, cy = (float(v) for v in table["center_xy"])
    sx, sy = (float(v) / 2 for v in table["size_xy"])
    th = float(table["thickness"])
    ET.SubElement(
        worldbody,
        "geom",
        name="table",
        type="box",
        size=_fmt([sx, sy, th / 2]),
        pos=_fmt([cx, cy, -th / 2]),
        material="table_top",
        friction="1 0.005 0.0001",
    )
    leg_h = (t_h - th) / 2
    for i, (lx, ly) in enumerate([(1, 1), (1, -1), (-1, 1), (-1, -1)]):
        ET.SubElement(
            worldbody,
            "geom",
            name=f"table_leg{i}",
            type="box",
            size=_fmt([0.03, 0.03, leg_h]),
            pos=_fmt([cx + lx * (sx - 0.05), cy + ly * (sy - 0.05), -th - leg_h]),
            material="leg",
            contype="0",
            conaffinity="0",
        )
    # Walls behind and left of the robot (visual only).
    ET.SubElement(
        worldbody,
        "geom",
        name="wall_back",
        type="box",
        size="0.02 2.5 1.5",
        pos=_fmt([-1.0, 0, 1.5 - t_h]),
        material="wall",
        contype="0",
        conaffinity="0",
    )
    ET.SubElement(
        worldbody,
        "geom",
        name="wall_side",
        type="box",
        size="2.5 0.02 1.5",
        pos=_fmt([1.0, 1.6, 1.5 - t_h]),
        material="wall",
        contype="0",
        conaffinity="0",
    )
    # Soft overhead light over the workspace.
    ET.SubElement(
        worldbody,
        "light",
        name="top_light",
        pos=_fmt([cx, cy, 1.8]),
        dir="0 0 -1",
        directional="false",
        diffuse="0.15 0.15 0.15",
        specular="0.02 0.02 0.02",
        castshadow="false",
        attenuation="1 0 0",
    )

    # Cube.
    cube = cfg["objects"]["cube"]
    half = float(cube["size"]) / 2
    body = ET.SubElement(worldbody, "body", name="cube", pos=_fmt([0.5, -0.1, half]))
    ET.SubElement(body, "freejoint", name="cube_joint")
    ET.SubElement(
        body,
        "geom",
        name="cube_geom",
        type="box",
        size=_fmt([half] * 3),
        rgba=_fmt(cube["rgba"]),
        mass=f"{float(cube['mass']):.6g}",
        friction="1.2 0.01 0.0002",
        condim="4",
    )
    _add_cup(worldbody, cfg["objects"]["cup"])

    # Finger colour (visual geoms only): dark pads contrast with the white hand and the
    # table, so an open or closed hand is visible to the camera.
    rgba = cfg["robot"].get("finger_rgba")
    if rgba is not None:
        for body in worldbody.iter("body"):
            if body.get("name") in FINGER_BODIES:
                for geom in body.findall("geom"):
                    if geom.get("class") == "visual":
                        geom.attrib.pop("material", None)
                        geom.set("rgba", _fmt(rgba))

    # TCP site on the hand (same point as libfranka's O_T_EE in franky-sim).
    hand = _find(worldbody, "body", HAND_BODY)
    ET.SubElement(
        hand,
        "site",
        name=TCP_SITE,
        pos=f"0 0 {TCP_OFFSET}",
        size="0.005",
        rgba="1 0 0 0",
        group="5",
    )

    # Cameras.
    # Cameras: fixed in the world, or (``body:``) mounted on a robot body, e.g. a wrist
    # camera on the hand, with pos / lookat / up in that body's frame.
    for name, cam in cfg["cameras"].items():
        if "stack" in cam:  # a composite of other cameras, see render.stacked_views
            continue
        parent = _find(worldbody, "body", cam["body"]) if cam.get("body") else worldbody
        ET.SubElement(
            parent,
            "camera",
            name=name,
            mode="fixed",
            pos=_fmt(cam["pos"]),
            xyaxes=_fmt(camera_xyaxes(cam["pos"], cam["lookat"], cam.get("up", (0.0, 0.0, 1.0)))),
            fovy=f"{float(cam['fovy']):.6g}",
        )
