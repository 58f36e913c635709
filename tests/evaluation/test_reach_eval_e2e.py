"""One reach episode end to end with the shipped weights: real sim cell, bridge, planner.

The goal image is photographed at a goal pose, the robot returns to the start, and the
planner has to bring the hand back towards the goal from the image alone; judged from
simulator ground truth.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "weights" / "sim_tiny"


def test_one_reach_episode_reduces_the_error(tmp_path: Path) -> None:
    assert (WEIGHTS / "ac_predictor.safetensors").exists(), "shipped weights missing"
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(120, 200)), MUJOCO_GL="egl")
    ip = f"127.{random.randint(1, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
    out = tmp_path / "eval"
    cmd = [
        sys.executable,
        "-m",
        "vjepa2_world_model.cli",
        "eval",
        "reach",
        "--episodes",
        "1",
        "--budget",
        "8",
        "--seed",
        "5",
        "--checkpoint",
        str(WEIGHTS),
        "--out",
        str(out),
        "--robot-ip",
        ip,
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, log
    episode = json.loads((out / "reach.json").read_text())["episodes"][0]
    assert episode["steps"] >= 1, log
    # the planner moved the hand closer to where the goal image was taken
    assert episode["final_error_cm"] < episode["start_error_cm"] - 2.0, log
    assert (out / "reach_error.png").stat().st_size > 1000
    assert (out / "reach_landscape.png").stat().st_size > 1000
    # the episode video: one frame per planned step + the scene at the end, overlay size
    from vjepa2_world_model.viz.overlay import frame_size
    from vjepa2_world_model.viz.video import read_video

    video = out / "episodes" / "reach_ep00.mp4"
    assert f"video: {video}" in proc.stdout, log
    frames = read_video(video)
    w, h = frame_size()
    assert len(frames) == episode["steps"] + 1, (len(frames), episode["steps"])
    assert frames[0].shape == (h, w, 3)
    assert (out / "episodes" / "reach_ep00_filmstrip.png").stat().st_size > 10000
    assert (out / "episodes" / "reach_ep00.png").stat().st_size > 10000
    assert (out / "summary.png").stat().st_size > 10000


def _alive_with(ip: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", ip], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def test_sigterm_mid_episode_stops_the_eval_and_its_stack(tmp_path: Path) -> None:
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(120, 200)), MUJOCO_GL="egl")
    ip = f"127.{random.randint(1, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
    cmd = [
        sys.executable,
        "-m",
        "vjepa2_world_model.cli",
        "eval",
        "reach",
        "--episodes",
        "1",
        "--budget",
        "30",
        "--no-landscape",
        "--checkpoint",
        str(WEIGHTS),
        "--out",
        str(tmp_path / "eval"),
        "--robot-ip",
        ip,
    ]
    log = tmp_path / "eval.log"
    with log.open("w") as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while "step  1" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.5)
        assert "step  1" in log.read_text(), log.read_text()[-3000:]
        assert _alive_with(ip), "the stack should be running mid-episode"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 130, log.read_text()[-3000:]
        assert "interrupted" in log.read_text()
        deadline = time.monotonic() + 20
        while _alive_with(ip) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _alive_with(ip), f"stack processes left behind: {_alive_with(ip)}"
    finally:
        if proc.poll() is None:
            proc.kill()
