"""`vjepa2 eval TASK`: evaluation episodes with the real nodes against the simulated cell.

Tasks (the paper's protocol): reach; grasp-cube / grasp-cup (goal image: the object just
grasped, still on the table; success: a scripted lift by the judge after the episode
raises it >= 4 cm); reach-with-object (the cube held from the start); pick-place (cube,
3 sub-goal images grasped / carried / placed, budgets 4/10/4, from a start hovering above
the cube); pick-place-pregrasp (a fourth "pre-grasp" image first, from the home start).
For every episode the goal images are made the way a user makes one: the robot is moved
to the goal scene through the bridge and the camera frame is captured; the scene then
returns to its start and the planner must get there from the images alone. Every episode
has its own seeded layout. Outcomes are judged from ``/sim`` ground truth (the judge
only; the planner sees camera frames and the robot's own state).
"""

from __future__ import annotations

import argparse
import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from vjepa2_eval.client import EvalError, start_client
from vjepa2_world_model.evaluation import tasks as T
from vjepa2_world_model.evaluation.media import (
    print_media,
    write_episode_media,
    write_run_summary,
)
from vjepa2_world_model.evaluation.report import plot_episodes, write_results
from vjepa2_world_model.progress import iterate
from vjepa2_world_model.viz.plots import plot_landscape

TASKS = (
    "reach",
    "grasp-cube",
    "grasp-cup",
    "reach-with-object",
    "pick-place",
    "pick-place-pregrasp",
)
DEFAULT_CHECKPOINT = "weights/sim_tiny"
# Object rest layout of the manipulation tasks (xy, m); per-episode jitter is seeded.
CUBE_XY = np.array([0.50, -0.10])
CUP_XY = np.array([0.50, 0.16])
PLACE_XY = np.array([0.42, 0.06])


class Stack:
    """The bringup (sim cell, bridge, planner, goal selector) as a child process group."""

    def __init__(
        self,
        bringup: str,
        checkpoint: str,
        preset: str | None,
        log: Path,
        extra: list[str] | None = None,
    ) -> None:
        cmd = [
            sys.executable,
            "-m",
            "vjepa2_planner_node.bringup",
            bringup,
            f"checkpoint:={checkpoint}",
            "device:=cpu",
            *(extra or []),
        ]
        if preset:
            cmd.append(f"preset:={preset}")
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=os.environ.copy(),
        )

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise EvalError(
                f"the stack exited with code {self.proc.returncode}; see {self.log.name}"
            )

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def _err_cm(a: np.ndarray, b: np.ndarray) -> float:
    return 100.0 * float(np.linalg.norm(np.asarray(a)[:3] - np.asarray(b)[:3]))


def _progress(task: str, i: int) -> Any:
    def show(r: T.StepRecord) -> None:
        print(
            f"  [{task} {i}] step {r.step:2d} goal {r.goal_index} E={r.energy:.4f} "
            f"a=({r.action[0]:+.3f},{r.action[1]:+.3f},{r.action[2]:+.3f},g{r.action[6]:+.2f})"
            f" plan {r.plan_ms:.0f} ms, step {r.step_ms:.0f} ms",
            flush=True,
        )

    return show


def _finish(
    task: str,
    i: int,
    result: Any,
    records: list[T.StepRecord],
    success: bool,
    start_err: float,
    final_err: float,
    goal: list[float],
    extra: dict[str, Any] | None = None,
) -> T.Episode:
    ep = T.Episode(
        task=task,
        index=i,
        success=bool(success),
        steps=len(records),
        start_error_cm=start_err,
        final_error_cm=final_err,
        mean_step_ms=float(np.mean([r.step_ms for r in records])) if records else 0.0,
        mean_plan_ms=float(np.mean([r.plan_ms for r in records])) if records else 0.0,
        message=str(result.message),
        goal=goal,
        records=records,
        extra=extra or {},
    )
    print(
        f"[{task} {i}] {'SUCCESS' if ep.success else 'fail'}: error {start_err:.1f} -> "
        f"{final_err:.1f} cm in {ep.steps} steps ({ep.mean_step_ms:.0f} ms/step)",
        flush=True,
    )
    return ep


def reach_episode(c: Any, i: int, goal_xyz: np.ndarray, budget: int) -> T.Episode:
    """Photograph the robot at goal_xyz, return to start, plan back from the image."""
    c.move_to(goal_xyz, gripper=0.0)
    goal_img = c.fresh_image()
    goal_true = c.gt("ee")[:3]
    c.move_to(T.START_XYZ)
    start_err = _err_cm(c.gt("ee"), goal_true)
    result, records = c.plan([goal_img], [budget], [f"reach{i}"], on_step=_progress("reach", i))
    final_err = _err_cm(c.gt("ee"), goal_true)
    return _finish(
        "reach",
        i,
        result,
        records,
        final_err < 100 * T.REACH_SUCCESS_M,
        start_err,
        final_err,
        goal_true.tolist(),
    )


def _grasp_z(obj: str) -> float:
    return T.GRASP_Z + (0.045 if obj == "cup" else 0.0)


def _grasp_xy(c: Any, obj: str) -> np.ndarray:
    """Where the fingers close: cube centre; on the cup, its rim nearest the robot's side."""
    xy = c.gt(obj)[:2]
    return xy + (np.array([0.0, -0.034]) if obj == "cup" else 0.0)


def _scripted_grasp(c: Any, obj: str) -> None:
    """Scene setup (ground truth allowed): hover over the object, descend, close."""
    xy = _grasp_xy(c, obj)
    c.move_to([xy[0], xy[1], T.HOVER_Z], gripper=0.0)
    c.move_to([xy[0], xy[1], _grasp_z(obj)])
    c.set_gripper(1.0)


def _reset_scene(
    c: Any, cube_xy: np.ndarray, cup_xy: np.ndarray, start_xyz: np.ndarray | None = None
) -> None:
    """Open the hand, go home, lay the objects out; then (optionally) go to ``start_xyz``."""
    st = c.state()
    if st[6] > 0.2:
        c.set_gripper(0.0)
    c.move_to([st[0], st[1], max(st[2], T.HOVER_Z)])
    c.move_to(T.START_XYZ)
    c.place_objects(list(cube_xy), list(cup_xy))
    time.sleep(0.5)
    if start_xyz is not None:
        c.move_to(start_xyz)


def _layout(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return CUBE_XY + rng.uniform(-0.03, 0.03, 2), CUP_XY + rng.uniform(-0.03, 0.03, 2)


def judge_lift(c: Any, obj: str, rest_z: float) -> dict[str, Any]:
    """The grasp judge (not the planner): raise the hand JUDGE_LIFT_M through the bridge,
    the gripper left as the planner left it, then read the object's ground-truth height.
    Verdict: raised at least LIFT_SUCCESS_M above its rest height."""
    before = c.state()
    obj_before = float(c.gt(obj)[2])
    ee_before = float(c.gt("ee")[2])
    c.move_to(before[:3] + np.array([0.0, 0.0, T.JUDGE_LIFT_M]))
    time.sleep(0.5)  # let a slipping object fall
    obj_after = float(c.gt(obj)[2])
    return {
        "rest_z": rest_z,
        "obj_z_before_lift": obj_before,
        "obj_z_after_lift": obj_after,
        "obj_rise_cm": 100 * (obj_after - rest_z),
        "ee_rise_cm": 100 * (float(c.gt("ee")[2]) - ee_before),
        "gripper_at_lift": float(before[6]),
        "lifted": T.lifted(rest_z, obj_after),
    }


def grasp_episode(c: Any, i: int, obj: str, rng: np.random.Generator, budget: int) -> T.Episode:
    """Goal image: the object just grasped (hand closed around it, still on the table).
    Success: the judge's scripted lift after the episode raises the object >= 4 cm."""
    task = f"grasp-{obj}"
    cube_xy, cup_xy = _layout(rng)
    _reset_scene(c, cube_xy, cup_xy)
    rest_z = float(c.gt(obj)[2])
    _scripted_grasp(c, obj)
    goal_img = c.fresh_image()
    goal_ee = c.gt("ee")[:3]
    goal_on_table = abs(float(c.gt(obj)[2]) - rest_z) < 0.01
    _reset_scene(c, cube_xy, cup_xy)
    start_err = _err_cm(c.gt("ee"), goal_ee)
    result, records = c.plan([goal_img], [budget], [task], on_step=_progress(task, i), track=obj)
    final_err = _err_cm(c.gt("ee"), goal_ee)
    judge = judge_lift(c, obj, rest_z)
    return _finish(
        task,
        i,
        result,
        records,
        judge["lifted"],
        start_err,
        final_err,
        goal_ee.tolist(),
        {
            "goal_scene_on_table": goal_on_table,
            "judge": judge,
            "gripper_commands": T.gripper_commands(records),
        },
    )


def reach_with_object_episode(
    c: Any, i: int, goal_xyz: np.ndarray, rng: np.random.Generator, budget: int
) -> T.Episode:
    """Start and goal both hold the cube (grasped before the goal photo and kept through
    the return to the start); success: within 4 cm and still holding it."""
    task = "reach-with-object"
    cube_xy, cup_xy = _layout(rng)
    _reset_scene(c, cube_xy, cup_xy)
    rest_z = float(c.gt("cube")[2])
    _scripted_grasp(c, "cube")
    c.move_to(goal_xyz)
    goal_img = c.fresh_image()
    goal_ee = c.gt("ee")[:3]
    c.move_to(T.START_XYZ)
    held_at_start = T.lifted(rest_z, float(c.gt("cube")[2]))
    start_err = _err_cm(c.gt("ee"), goal_ee)
    result, records = c.plan([goal_img], [budget], [task], on_step=_progress(task, i), track="cube")
    final_err = _err_cm(c.gt("ee"), goal_ee)
    held = T.lifted(rest_z, float(c.gt("cube")[2]))
    return _finish(
        task,
        i,
        result,
        records,
        final_err < 100 * T.REACH_SUCCESS_M and held,
        start_err,
        final_err,
        goal_ee.tolist(),
        {
            "held_at_start": held_at_start,
            "held_at_end": held,
            "gripper_commands": T.gripper_commands(records),
        },
    )


def pick_place_goals(
    c: Any,
    cube_xy: np.ndarray,
    cup_xy: np.ndarray,
    place_xy: np.ndarray,
    start_xyz: np.ndarray,
    pregrasp: bool,
) -> list[Any]:
    """Photograph the sub-goal images as a user would: (pre-grasp: the hand open at
    ``start_xyz`` above the cube;) just grasped (closed around the cube, on the table);
    held near the target (above the place point); placed (cube down, hand open)."""
    goals = []
    if pregrasp:
        _reset_scene(c, cube_xy, cup_xy, start_xyz)
        goals.append(c.fresh_image())
    _reset_scene(c, cube_xy, cup_xy)
    _scripted_grasp(c, "cube")
    goals.append(c.fresh_image())
    c.move_to([place_xy[0], place_xy[1], T.HOVER_Z])
    goals.append(c.fresh_image())
    c.move_to([place_xy[0], place_xy[1], T.GRASP_Z + 0.005])
    c.set_gripper(0.0)
    goals.append(c.fresh_image())
    return goals


def pick_place_episode(
    c: Any, i: int, rng: np.random.Generator, budgets: list[int], pregrasp_budget: int | None = None
) -> T.Episode:
    """Sub-goal images grasped / carried / placed (budgets 4/10/4, the paper) from a start
    hovering above the cube (``tasks.hover_start``); with ``pregrasp_budget``, a fourth
    "pre-grasp" image first and the home start. Success: cube resting at the place point."""
    pregrasp = pregrasp_budget is not None
    task = "pick-place-pregrasp" if pregrasp else "pick-place"
    cube_xy, cup_xy = _layout(rng)
    place_xy = PLACE_XY + rng.uniform(-0.02, 0.02, 2)
    _reset_scene(c, cube_xy, cup_xy)
    rest_z = float(c.gt("cube")[2])
    hover = T.hover_start(c.gt("cube")[:2], rng)
    goals = pick_place_goals(c, cube_xy, cup_xy, place_xy, hover, pregrasp)
    goal_ee = c.gt("ee")[:3]
    names = ["grasp", "carry", "place"]
    if pregrasp:
        names, budgets = ["pregrasp", *names], [int(pregrasp_budget), *budgets]
    _reset_scene(c, cube_xy, cup_xy, None if pregrasp else hover)
    grasp_ee = np.array([*c.gt("cube")[:2], T.GRASP_Z])
    steps_to_grasp = T.l1_steps(grasp_ee - c.state()[:3])
    start_err = _err_cm(c.gt("cube")[:2].tolist() + [0.0], list(place_xy) + [0.0])
    result, records = c.plan(goals, budgets, names, on_step=_progress(task, i), track="cube")
    cube = c.gt("cube")
    final_err = _err_cm(cube[:2].tolist() + [0.0], list(place_xy) + [0.0])
    ok = T.placed(cube[:3], place_xy, rest_z)
    max_rise = max([r.obj_xyz[2] - rest_z for r in records if r.obj_xyz] or [0.0])
    return _finish(
        task,
        i,
        result,
        records,
        ok,
        start_err,
        final_err,
        goal_ee.tolist(),
        {
            "place_xy": place_xy.tolist(),
            "cube_final": cube[:3].tolist(),
            "start_xyz": (T.START_XYZ if pregrasp else hover).tolist(),
            "budgets": budgets,
            "min_steps_start_to_grasp": steps_to_grasp,
            "cube_max_rise_cm": 100 * max_rise,
            "gripper_commands": T.gripper_commands(records),
        },
    )


def run_episode(
    c: Any, task: str, i: int, ns: argparse.Namespace, goal_xyz: np.ndarray
) -> T.Episode:
    """Episode ``i`` of ``task`` with its own seeded scene."""
    rng = T.episode_rng(ns.seed, task, i)
    if task == "reach":
        if i == 0:
            c.place_objects([0.62, -0.3], [0.62, 0.3])  # out of the reach region
        return reach_episode(c, i, goal_xyz, ns.budget)
    if task.startswith("grasp-"):
        return grasp_episode(c, i, task.split("-")[1], rng, ns.budget)
    if task == "reach-with-object":
        g = goal_xyz.copy()
        g[2] = max(g[2], 0.15)
        return reach_with_object_episode(c, i, g, rng, ns.budget)
    budgets = [int(b) for b in ns.budgets.split(",")]
    pre = ns.pregrasp_budget if task == "pick-place-pregrasp" else None
    return pick_place_episode(c, i, rng, budgets, pre)


def _chosen_action(c: Any, goal_rgb: np.ndarray) -> tuple[float, float] | None:
    """(dx, dy) the running planner chooses for one step toward ``goal_rgb`` (executed)."""
    from vjepa2_planner_node.image_codec import array_to_image_msg

    _, records = c.plan([array_to_image_msg(goal_rgb)], [1], ["landscape"])
    return (records[0].action[0], records[0].action[1]) if records else None


def energy_landscape(
    checkpoint: str,
    obs_rgb: np.ndarray,
    goal_rgb: np.ndarray,
    state7: np.ndarray,
    true_offset: np.ndarray,
    path: Path,
    half_width: float = 0.1,
    n: int = 21,
    chosen: tuple[float, float] | None = None,
) -> Path:
    """Energy of one-step plans over a (dx, dy) grid around the current state (PNG)."""
    import torch

    from vjepa2_world_model.checkpoints import load_pair
    from vjepa2_world_model.planning import energy, layer_norm, make_rollout

    encoder, predictor = load_pair(checkpoint, "cpu")
    with torch.no_grad():
        z = layer_norm(encoder.encode_images(torch.from_numpy(np.stack([obs_rgb, goal_rgb]))))
        dx = np.linspace(-half_width, half_width, n)
        dy = np.linspace(-half_width, half_width, n)
        grid = np.zeros((n * n, 1, 7), np.float32)
        grid[:, 0, 0] = np.repeat(dx, n)
        grid[:, 0, 1] = np.tile(dy, n)
        rollout = make_rollout(predictor)
        pred = rollout.rollout(
            z[0], torch.as_tensor(state7, dtype=torch.float32), torch.from_numpy(grid)
        )
        e = energy(pred, z[1]).reshape(n, n).numpy()
    return plot_landscape(
        path,
        dx,
        dy,
        e,
        (float(true_offset[0]), float(true_offset[1])),
        "energy over (dx, dy), one step ahead",
        chosen,
    )


def main(argv: list[str] | None = None) -> int:
    """``vjepa2 eval TASK [--episodes N] [--seed S] [--out DIR] [--checkpoint DIR]``."""
    ap = argparse.ArgumentParser(prog="vjepa2 eval", description=__doc__.split("\n")[0])
    ap.add_argument("task", choices=TASKS + ("all",))
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", type=int, default=12, help="steps per single-goal episode")
    ap.add_argument("--budgets", default="4,10,4", help="pick-place sub-goal budgets")
    ap.add_argument(
        "--pregrasp-budget",
        type=int,
        default=T.PREGRASP_BUDGET,
        help="pick-place-pregrasp: steps for the pre-grasp image",
    )
    ap.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    ap.add_argument("--preset", default=None, help="planner preset (default: bringup's)")
    ap.add_argument(
        "--hold-margin",
        type=float,
        default=None,
        help="planner hold rule margin (default: bringup's; < 0 = off)",
    )
    ap.add_argument(
        "--gripper-margin",
        type=float,
        default=None,
        help="hold rule cost of a gripper change (default: bringup's)",
    )
    ap.add_argument(
        "--state-alpha",
        type=float,
        default=None,
        help="planner state energy weight (default: bringup's, 0 = the paper)",
    )
    ap.add_argument("--readout", default=None, help="readout head file for --state-alpha")
    ap.add_argument(
        "--switch-patience",
        type=int,
        default=None,
        help="sub-goals: also move on after N steps without energy gain",
    )
    ap.add_argument("--out", default="results")
    ap.add_argument(
        "--robot-ip", default="127.0.0.1", help="address of the simulated robot the bringup starts"
    )
    ap.add_argument("--no-landscape", action="store_true", help="skip the energy landscape")
    ap.add_argument(
        "--params-file",
        default=None,
        help="ROS parameters file for the stack's nodes (default: the bringup's; "
        "config/sim_wrist.params.yaml = the wrist-camera cell for weights/sim_wrist)",
    )
    ap.add_argument(
        "--no-bringup",
        action="store_true",
        help="use an already running stack instead of starting one",
    )
    ns = ap.parse_args(argv)
    out = Path(ns.out)
    tasks = TASKS if ns.task == "all" else (ns.task,)
    extra = [f"robot_ip:={ns.robot_ip}"]
    if ns.params_file:
        extra.append(f"params_file:={Path(ns.params_file).resolve()}")
    if ns.hold_margin is not None:
        extra.append(f"hold_margin:={ns.hold_margin}")
    if ns.gripper_margin is not None:
        extra.append(f"gripper_margin:={ns.gripper_margin}")
    for arg, value in (
        ("state_alpha", ns.state_alpha),
        ("readout", ns.readout),
        ("switch_patience", ns.switch_patience),
    ):
        if value is not None:
            extra.append(f"{arg}:={value}")
    stack = (
        None
        if ns.no_bringup
        else Stack("reach", ns.checkpoint, ns.preset, out / "stack.log", extra)
    )
    c = None
    summaries = {}
    try:
        c = start_client()
        print("[eval] waiting for the stack (sim cell, bridge, planner)...", flush=True)
        c.wait_ready()
        for task in tasks:
            episodes: list[T.Episode] = []
            errors: list[str] = []
            goals = T.sample_reach_goals(ns.episodes, ns.seed)
            meta = {
                "command": "vjepa2 eval " + " ".join(argv or sys.argv[1:]),
                "checkpoint": ns.checkpoint,
                "preset": ns.preset or "bringup default",
                "hold_margin": ns.hold_margin,
                "gripper_margin": ns.gripper_margin,
                "state_alpha": ns.state_alpha,
                "switch_patience": ns.switch_patience,
                "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "errors": errors,
            }
            for i in iterate(range(ns.episodes), desc=f"eval {task}", unit="episode"):
                if stack is not None:
                    stack.check()
                try:
                    ep = run_episode(c, task, i, ns, goals[i])
                except EvalError as e:  # the cell failed (e.g. a robot fault under load)
                    ep = None
                    errors.append(f"episode {i}: {e}")
                if ep is not None and "execution failed" in ep.message:
                    errors.append(f"episode {i}: {ep.message}")  # a fault, not a verdict
                    ep = None
                if ep is None:
                    print(f"[eval] {task} {i}: not counted: {errors[-1]}", flush=True)
                    c.wait_ready()
                    continue
                episodes.append(ep)
                print_media(f"[eval] {task} {i}", write_episode_media(out, ep, c.frame_log))
                # results after every episode: a later fault keeps the finished ones
                summaries[task] = write_results(out, task, episodes, meta)
            if not episodes:
                raise EvalError(f"{task}: no episode finished: {errors}")
            plots = plot_episodes(out, task, episodes)
            print(
                f"[eval] {task}: {summaries[task]}\n[eval] wrote {out}/{task}.md, .json, "
                + ", ".join(str(p) for p in plots)
                + (
                    f"; {len(errors)} episode(s) not counted (cell faults): {errors}"
                    if errors
                    else ""
                ),
                flush=True,
            )
        if summaries:
            print(f"[eval] summary figure: {write_run_summary(out, summaries)}", flush=True)
        if "reach" in tasks and not ns.no_landscape:
            # landscape around the start pose for a goal in the (dx, dy) plane of the grid
            off = np.random.default_rng(ns.seed + 1).uniform(0.04, 0.07, 2)
            off *= np.random.default_rng(ns.seed + 2).choice([-1.0, 1.0], 2)
            c.move_to(T.START_XYZ + np.array([off[0], off[1], 0.0]))
            goal_rgb, goal_xyz = c.rgb(c.fresh_image()), c.gt("ee")[:3]
            c.move_to(T.START_XYZ)
            obs_rgb, state, offset = c.rgb(c.fresh_image()), c.state(), goal_xyz - c.gt("ee")[:3]
            chosen = _chosen_action(c, goal_rgb)
            p = energy_landscape(
                ns.checkpoint,
                obs_rgb,
                goal_rgb,
                state,
                offset,
                out / "reach_landscape.png",
                chosen=chosen,
            )
            print(f"[eval] wrote {p}")
    except KeyboardInterrupt:
        print(
            "\n[eval] interrupted: stopping the stack; finished tasks' results are kept",
            file=sys.stderr,
        )
        return 130
    finally:
        if c is not None:
            c.close()
        if stack is not None:
            stack.stop()
    return 0
