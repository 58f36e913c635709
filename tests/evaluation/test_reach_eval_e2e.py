"""One reach episode end to end with the shipped weights: real sim cell, bridge, planner.

The goal image is photographed at a goal pose, the robot returns to the start, and the
planner has to bring the hand back towards the goal from the image alone; judged from
simulator ground truth.
"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "weights" / "sim_tiny"


def test_one_reach_episode_reduces_the_error(tmp_path: Path) -> None:
    assert (WEIGHTS / "ac_predictor.safetensors").exists(), "shipped weights missing"
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(120, 200)), MUJOCO_GL="egl")
    ip = f"127.{random.randint(1, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
    out = tmp_path / "eval"
    cmd = [sys.executable, "-m", "vjepa2_world_model.cli", "eval", "reach", "--episodes", "1",
           "--budget", "8", "--seed", "5", "--checkpoint", str(WEIGHTS), "--out", str(out),
           "--robot-ip", ip]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, log
    episode = json.loads((out / "reach.json").read_text())["episodes"][0]
    assert episode["steps"] >= 1, log
    # the planner moved the hand closer to where the goal image was taken
    assert episode["final_error_cm"] < episode["start_error_cm"] - 2.0, log
    assert (out / "reach_error.png").stat().st_size > 1000
    assert (out / "reach_landscape.png").stat().st_size > 1000
