"""The live franky-sim server scene and the direct-stepping sim render the same image."""

from __future__ import annotations

import os
import time

import mujoco
import numpy as np

from vjepa2_world_model.sim import DirectSim, load_config
from vjepa2_world_model.sim.render import OffscreenRenderer
from vjepa2_world_model.sim.scene import build_scene_xml
from vjepa2_world_model.sim.server import SimServerProcess

POSES = {"cube": [0.45, -0.1, 0.021, 1, 0, 0, 0], "cup": [0.55, 0.15, 0.001, 1, 0, 0, 0]}


def test_live_server_and_direct_sim_render_alike() -> None:
    cfg = load_config()
    ip = os.environ.get("VJEPA2_TEST_ROBOT_IP", "127.0.0.1")
    with SimServerProcess(cfg, hostname=ip) as server:
        server.start(initial_poses=POSES)
        _, t0, _ = server.snapshot()
        deadline = time.monotonic() + 20
        while server.snapshot()[1] < t0 + 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)  # let the objects settle in the live sim
        seq, t, qpos = server.snapshot()
        assert t > t0 and seq > 0
        renderer = OffscreenRenderer(mujoco.MjModel.from_xml_string(build_scene_xml(cfg)))
        renderer.set_state(qpos)
        live = renderer.render("ext_cam", 256, 256).astype(int)
        renderer.close()
    sim = DirectSim(cfg)
    sim.reset(object_poses=POSES)
    direct = sim.render(256, 256).astype(int)
    sim.close()
    diff = np.abs(live - direct).sum(-1)
    assert diff.mean() < 3.0
    assert (diff > 40).mean() < 0.01
