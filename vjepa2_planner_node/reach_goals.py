"""Make the shipped reach goal library: ``python -m vjepa2_planner_node.reach_goals [DIR]``.

Moves the simulated arm (DirectSim: the cell's scene and camera, no ROS) from the start
pose to each target, photographs it with the exterior camera and writes DIR/NAME.png plus
DIR/scene.yaml (object layout, so the launch lays the scene out the same way). On a real
cell make goals as the paper does instead: move the arm there and use ``/goals/capture``
or the RViz menu "Capture current view as goal".
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import yaml

SCENE = {"cube_xy": [0.50, -0.10], "cup_xy": [0.50, 0.16]}
TARGETS = {"left": [0.45, 0.15, 0.25], "right": [0.45, -0.15, 0.25], "low_front": [0.55, 0.0, 0.18]}


def main(argv: list[str] | None = None) -> int:
    import cv2

    from vjepa2_world_model.evaluation.tasks import START_XYZ
    from vjepa2_world_model.sim.direct import DirectSim

    out = Path((argv if argv is not None else sys.argv[1:] or ["goals/reach"])[0])
    out.mkdir(parents=True, exist_ok=True)
    sim = DirectSim()
    try:
        for name, xyz in TARGETS.items():
            sim.reset(object_poses={"cube": SCENE["cube_xy"], "cup": SCENE["cup_xy"]})
            for target in (START_XYZ, np.asarray(xyz)):
                for _ in range(10):
                    d = np.zeros(7)
                    d[:3] = np.clip(target - sim.ee_state7()[:3], -0.1, 0.1)
                    if np.abs(d[:3]).max() < 0.002:
                        break
                    sim.move_ee_delta(d)
            rgb = sim.render()
            cv2.imwrite(str(out / f"{name}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            print(f"{out / name}.png: hand at {np.round(sim.ee_state7()[:3], 3).tolist()}")
    finally:
        sim.close()
    (out / "scene.yaml").write_text(yaml.safe_dump({**SCENE, "targets": TARGETS}, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
