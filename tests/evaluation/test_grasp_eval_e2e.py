"""One grasp episode end to end (real sim cell, bridge, planner; shipped weights, short
budget): checks the mechanism, not the rate. The planner's commands reach the gripper,
the judge's scripted lift runs after the episode, and the verdict is the object's
ground-truth rise. The rate is the eval's job (docs/results/)."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "weights" / "sim_tiny"


def test_one_grasp_episode_mechanism(tmp_path: Path) -> None:
    from vjepa2_world_model.evaluation import tasks as T

    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(120, 200)), MUJOCO_GL="egl")
    ip = f"127.{random.randint(1, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
    out = tmp_path / "eval"
    # hold rule off: the planner sends its gripper channel as planned (with the shipped
    # weights the gripper margin would keep the hand still)
    cmd = [
        sys.executable,
        "-m",
        "vjepa2_world_model.cli",
        "eval",
        "grasp-cube",
        "--episodes",
        "1",
        "--budget",
        "3",
        "--seed",
        "3",
        "--hold-margin",
        "-1",
        "--checkpoint",
        str(WEIGHTS),
        "--out",
        str(out),
        "--robot-ip",
        ip,
        "--no-landscape",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    log = proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, log
    ep = json.loads((out / "grasp-cube.json").read_text())["episodes"][0]
    recs, judge = ep["records"], ep["extra"]["judge"]
    assert ep["steps"] == 3 and len(recs) == 3, log
    # the goal image showed the cube grasped on the table, not lifted
    assert ep["extra"]["goal_scene_on_table"], ep["extra"]
    # the planner commanded the gripper channel, and the bridge acted on the commands
    # above its threshold (the measured closure followed)
    grips = [r["action"][6] for r in recs]
    assert any(abs(g) > 1e-3 for g in grips), grips
    closes = [i for i, g in enumerate(grips) if g > 0.2]
    if closes:
        assert max(recs[i]["gripper"] for i in closes) > 0.3, recs
    assert ep["extra"]["gripper_commands"] == sum(abs(g) > 0.2 for g in grips)
    # the judge's scripted lift ran: the hand rose by JUDGE_LIFT_M after the episode
    assert judge["ee_rise_cm"] > 100 * T.JUDGE_LIFT_M - 2.0, judge
    # the verdict is the cube's ground-truth rise (rest height: a 4 cm cube on the table)
    assert 0.015 < judge["rest_z"] < 0.025, judge
    rise = judge["obj_z_after_lift"] - judge["rest_z"]
    assert abs(100 * rise - judge["obj_rise_cm"]) < 1e-6
    assert ep["success"] == (rise >= T.LIFT_SUCCESS_M) == judge["lifted"], judge
    md = (out / "grasp-cube.md").read_text()
    assert f"| 0 | {'yes' if ep['success'] else 'no'} |" in md, md
