"""`vjepa2 demo`: simulated pick-and-place with the shipped weights and stored goal images.

Starts the pick_place bringup (sim cell, bridge, planner, goal selector) and a bag
recorder, lays the scene out as the stored goal images were made (goals/pick_place/
scene.yaml), puts the hand open above the cube (the scene's ``start_xyz``: from there the
4-step grasp budget can reach the cube, see ``evaluation.tasks.HOVER_START_DZ``), and asks
the planner to go through the three sub-goal images (just grasped, carried, placed;
budgets 4/10/4 like the paper) from the images alone. Prints every step, then the outcome
judged from simulator ground truth, and where the plots and the bag are.

``vjepa2 demo --make-goals`` re-makes the stored goal images: the robot is moved
through the scene by a scripted grasp / carry / release and each sub-goal view is
captured with the goal selector's ``/goals/capture`` service, as a user would.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from vjepa2_eval.client import EvalError, start_client
from vjepa2_eval.run import (
    Stack,
    _finish,
    _progress,
    _reset_scene,
    _scripted_grasp,
)
from vjepa2_world_model.evaluation import tasks as T
from vjepa2_world_model.evaluation.media import write_episode_media
from vjepa2_world_model.evaluation.report import plot_episodes

GOALS_DIR = Path("goals/pick_place")
GOAL_NAMES = ["1_grasp", "2_carry", "3_place"]
DEFAULT_SCENE = {
    "cube_xy": [0.50, -0.10],
    "cup_xy": [0.50, 0.16],
    "place_xy": [0.42, 0.06],
    "budgets": [4, 10, 4],
}


def start_xyz(scene: dict) -> list[float]:
    """The demo's start pose: the scene's ``start_xyz``, else open above the cube."""
    if "start_xyz" in scene:
        return [float(v) for v in scene["start_xyz"]]
    x, y = scene["cube_xy"]
    return [float(x), float(y), T.GRASP_Z + T.HOVER_START_DZ]


def make_goals(c: object, goals_dir: Path) -> dict:
    """Script grasp -> carry -> release in the live sim and capture the three goal views."""
    from vjepa2_interfaces.srv import CaptureGoal

    scene = dict(DEFAULT_SCENE)
    scene["start_xyz"] = start_xyz(scene)

    def capture(name: str) -> None:
        c.fresh_image()  # wait until the camera shows the settled scene
        req = CaptureGoal.Request(name=name, overwrite=True, set_active=False)
        res = c.call_service(CaptureGoal, "/goals/capture", req)
        if not res.success:
            raise EvalError(f"capture {name}: {res.message}")
        print(f"[demo] captured goal {name} -> {res.path}", flush=True)

    _reset_scene(c, np.array(scene["cube_xy"]), np.array(scene["cup_xy"]))
    _scripted_grasp(c, "cube")
    capture(GOAL_NAMES[0])
    px, py = scene["place_xy"]
    c.move_to([px, py, T.HOVER_Z])
    capture(GOAL_NAMES[1])
    c.move_to([px, py, T.GRASP_Z + 0.005])
    c.set_gripper(0.0)
    capture(GOAL_NAMES[2])
    goals_dir.mkdir(parents=True, exist_ok=True)
    (goals_dir / "scene.yaml").write_text(yaml.safe_dump(scene, sort_keys=False))
    return scene


def main(argv: list[str] | None = None) -> int:
    """``vjepa2 demo [--checkpoint DIR] [--out DIR] [--make-goals]``."""
    ap = argparse.ArgumentParser(prog="vjepa2 demo", description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default="weights/sim_tiny")
    ap.add_argument("--goals-dir", default=str(GOALS_DIR))
    ap.add_argument("--out", default="results/demo")
    ap.add_argument("--make-goals", action="store_true", help="re-make the stored goal images")
    ns = ap.parse_args(argv)
    out, goals_dir = Path(ns.out), Path(ns.goals_dir)
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"[demo] starting the simulated cell, bridge, planner and goal selector "
        f"(checkpoint {ns.checkpoint}); logs: {out}/stack.log",
        flush=True,
    )
    stack = Stack(
        "pick_place", ns.checkpoint, None, out / "stack.log", extra=[f"goals_dir:={goals_dir}"]
    )
    bag = out / time.strftime("bag_%Y%m%d_%H%M%S")
    recorder = None
    c = None
    try:
        c = start_client()
        c.wait_ready()
        if ns.make_goals:
            make_goals(c, goals_dir)
            print(f"[demo] goal images written to {goals_dir}")
            return 0
        scene_file = goals_dir / "scene.yaml"
        if not scene_file.exists():
            raise EvalError(f"{scene_file} missing: run `vjepa2 demo --make-goals` first")
        scene = yaml.safe_load(scene_file.read_text())
        recorder = subprocess.Popen(
            [sys.executable, "-m", "vjepa2_world_model.cli", "record", "-o", str(bag)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        print(
            "[demo] laying out the scene as in the goal images; hand open above the cube "
            f"at {start_xyz(scene)}",
            flush=True,
        )
        _reset_scene(
            c, np.array(scene["cube_xy"]), np.array(scene["cup_xy"]), np.array(start_xyz(scene))
        )
        rest_z = float(c.gt("cube")[2])
        place_xy = np.array(scene["place_xy"])
        images = []
        for name in GOAL_NAMES:
            images.append(_load_goal_image(c, name))
        start_err = 100 * float(np.linalg.norm(c.gt("cube")[:2] - place_xy))
        print(f"[demo] planning through {GOAL_NAMES} with budgets {scene['budgets']}", flush=True)
        result, records = c.plan(
            images, scene["budgets"], GOAL_NAMES, on_step=_progress("pick-place", 0), track="cube"
        )
        cube = c.gt("cube")
        final_err = 100 * float(np.linalg.norm(cube[:2] - place_xy))
        ep = _finish(
            "pick-place",
            0,
            result,
            records,
            T.placed(cube[:3], place_xy, rest_z),
            start_err,
            final_err,
            [],
            {"cube_final": cube[:3].tolist()},
        )
        plots = plot_episodes(out, "demo", [ep])
        media = write_episode_media(out, ep, c.frame_log, stem="demo")
        print(
            "\n[demo] outcome: "
            + ("cube placed at the goal" if ep.success else "cube not placed")
            + f" (cube {final_err:.1f} cm from the place point, was "
            f"{start_err:.1f} cm; planner: {result.message})"
        )
        if not ep.success and Path(ns.checkpoint) == Path("weights/sim_tiny"):
            print(
                "[demo] expected with the shipped tiny model: it does not predict what "
                "the gripper does, so it does not close the hand on the cube (README.md, "
                "'What limits grasping')"
            )
        _print_media(media)
        print(f"[demo] plots: {', '.join(str(p) for p in plots)}")
        print(f"[demo] bag: {bag}")
        return 0
    except EvalError as e:
        print(f"[demo] error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n[demo] interrupted: stopping the stack", file=sys.stderr)
        return 130
    finally:
        if recorder is not None and recorder.poll() is None:
            os.killpg(recorder.pid, signal.SIGINT)
            recorder.wait(timeout=15)
        if c is not None:
            c.close()
        stack.stop()


def _load_goal_image(c: object, name: str) -> object:
    """The stored goal image NAME from the goal selector (``/goals/get``)."""
    from vjepa2_interfaces.srv import GetGoal

    res = c.call_service(GetGoal, "/goals/get", GetGoal.Request(name=name))
    if not res.success:
        raise EvalError(f"goal {name!r}: {res.message}")
    return res.image


def _print_media(media: dict[str, Path]) -> None:
    """Where the episode video, filmstrip and figure went."""
    for kind in ("video", "filmstrip", "plot"):
        if kind in media:
            print(f"[demo] {kind}: {media[kind]}")
