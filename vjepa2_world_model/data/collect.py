"""`vjepa2 collect`: exploration episodes in the simulated cell, saved as rosbag2 MCAP.

Steps MuJoCo directly through ``vjepa2_world_model.sim.direct.DirectSim`` (no ROS, no
libfranka, no real-time pacing). Each episode: reset with randomised object poses, then a
mix of random end-effector deltas (per-axis up to ~0.075 m, like the planner samples),
reaches to random points / above objects, grasp attempts (descend, close, lift) and
releases; at the object the hand sometimes waits open or lifts without closing, so the
gripper action is not predictable from the scene alone. One frame + 7-D state per
step, stamped at 4 fps, written with the recorder's topics. Resumable: finished episodes
(``ep_NNNNN/metadata.yaml``) are skipped; partial ones (``*.tmp``) are rewritten.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

WS_MIN = np.array([0.30, -0.28, 0.03])
WS_MAX = np.array([0.70, 0.28, 0.42])
GRASP_Z = 0.025
HOVER_Z = 0.12


class ExplorationPolicy:
    """Random but purposeful EE deltas: random walks, reaches, grasps, releases.

    The gripper is decorrelated from the scene on purpose (else a model learns "at the
    cube the hand closes" and ignores the gripper action): it closes in the air, at the
    object, beside it (near misses), waits open at the object, lifts without closing,
    releases in the air and re-grasps.
    """

    def __init__(self, rng: np.random.Generator, max_step: float = 0.075) -> None:
        self.rng = rng
        self.max_step = max_step
        self.plan: list[tuple[str, np.ndarray | None, float]] = []
        self.grip_closed = False

    def _toward(self, pos: np.ndarray, target: np.ndarray, step: float) -> np.ndarray:
        d = np.clip(target - pos, -step, step)
        d += self.rng.normal(0, 0.006, 3)
        return d

    def _grip(self, value: float, waits: int = 0) -> None:
        self.plan += [("grip", None, 0.0)] * waits
        self.plan.append(("grip", None, value))

    def _grasp_attempt(self, xy: np.ndarray, name: str) -> None:
        rng = self.rng
        kind = rng.choice(["grasp", "near_miss", "no_close", "regrasp"], p=[0.5, 0.2, 0.15, 0.15])
        if kind == "near_miss":  # close beside the object: looks like a grasp, holds nothing
            xy = xy + rng.choice([-1.0, 1.0], 2) * rng.uniform(0.015, 0.04, 2)
        hover = np.array([xy[0], xy[1], HOVER_Z + rng.uniform(-0.03, 0.05)])
        low = np.array(
            [xy[0], xy[1], GRASP_Z + (0.04 if name == "cup" else 0.0) + rng.uniform(0.0, 0.01)]
        )
        if self.grip_closed:
            self._grip(-1.0)
        self.plan += [("reach", hover, 0.0)] * 6
        self.plan += [("reach", low, 0.0)] * 4
        waits = int(rng.choice([0, 0, 1, 2]))
        if kind == "no_close":  # wait open (or not) at the object, then lift open
            self.plan += [("grip", None, 0.0)] * waits
        else:
            self._grip(1.0, waits)
        if kind == "regrasp":  # open at the object, close again
            self._grip(-1.0, int(rng.choice([0, 1])))
            self._grip(1.0, int(rng.choice([0, 1])))
        lift = np.array([xy[0], xy[1], rng.uniform(0.08, 0.35)])
        self.plan += [("reach", lift, 0.0)] * 3
        if rng.random() < 0.5:  # carry
            carry = rng.uniform(WS_MIN, WS_MAX)
            carry[2] = max(carry[2], 0.08)
            self.plan += [("reach", carry, 0.0)] * 3
        if rng.random() < 0.3:  # put it down again before releasing
            self.plan += [("lower", None, 0.0)] * 3
        if rng.random() < 0.75:
            self._grip(-1.0, int(rng.choice([0, 0, 1])))

    def _new_segment(self, state: np.ndarray, objects: dict[str, np.ndarray]) -> None:
        r = self.rng.random()
        names = list(objects)
        if r < 0.25:  # random walk
            for _ in range(int(self.rng.integers(3, 9))):
                self.plan.append(("random", None, 0.0))
        elif r < 0.4:  # reach a random point
            tgt = self.rng.uniform(WS_MIN, WS_MAX)
            self.plan += [("reach", tgt, 0.0)] * int(self.rng.integers(3, 8))
        elif r < 0.8 and names:  # grasp attempt on an object
            pick = 0 if self.rng.random() < 0.7 else int(self.rng.integers(len(names)))
            name = names[pick]
            self._grasp_attempt(objects[name][:2] + self.rng.normal(0, 0.008, 2), name)
        else:  # gripper toggle(s) wherever the hand is (in the air, usually)
            closed = self.grip_closed
            for _ in range(int(self.rng.integers(1, 3))):
                self._grip(-1.0 if closed else 1.0, int(self.rng.choice([0, 1])))
                closed = not closed

    def act(self, state: np.ndarray, objects: dict[str, np.ndarray]) -> np.ndarray:
        """Next commanded 7-D action (rotation 0, gripper +-1 or 0)."""
        while not self.plan:
            self._new_segment(state, objects)
        kind, target, grip = self.plan.pop(0)
        pos = state[:3]
        a = np.zeros(7)
        if kind == "random":
            scale = self.rng.choice([0.02, 0.05, self.max_step])
            a[:3] = self.rng.uniform(-scale, scale, 3)
            if self.rng.random() < 0.15:
                a[6] = -1.0 if self.grip_closed else 1.0
        elif kind == "reach":
            step = self.rng.uniform(0.04, self.max_step)
            a[:3] = self._toward(pos, target, step)
            # drop the remaining reach steps once there
            if np.linalg.norm(target - pos) < 0.01:
                while self.plan and self.plan[0][0] == "reach" and self.plan[0][1] is target:
                    self.plan.pop(0)
        elif kind == "lower":  # straight down toward the table (stops at the workspace floor)
            a[:3] = self.rng.normal(0, 0.004, 3)
            a[2] = -self.rng.uniform(0.04, self.max_step)
        else:
            a[6] = grip
            a[:3] = self.rng.normal(0, 0.003, 3)
        # keep the target inside the collection workspace
        tgt = np.clip(pos + a[:3], WS_MIN, WS_MAX)
        a[:3] = tgt - pos
        if a[6] > 0.2:
            self.grip_closed = True
        elif a[6] < -0.2:
            self.grip_closed = False
        return a


def collect_episode(
    sim: object, path: Path, seed: int, steps: int, size: int, fps: float = 4.0
) -> dict:
    """Run one episode and write it to ``path`` (a bag directory)."""
    from .bags import EpisodeWriter

    rng = np.random.default_rng(seed)
    state = sim.reset(seed=seed)
    policy = ExplorationPolicy(rng)
    period = round(1e9 / fps)
    t0 = 10**9
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    commanded, sim_time = [], 0.0
    with EpisodeWriter(tmp) as w:
        w.add(t0, sim.render(size, size), state)
        for k in range(steps):
            a = policy.act(state, sim.object_poses())
            try:
                state = sim.move_ee_delta(a)
            except ValueError:
                a = np.zeros(7)
                state = sim.move_ee_delta(a)
            sim_time += sim.last_result.sim_time
            commanded.append(a.tolist())
            w.add(t0 + (k + 1) * period, sim.render(size, size), state)
    info = {
        "seed": seed,
        "steps": steps,
        "size": size,
        "fps": fps,
        "object_poses_final": {k: v.tolist() for k, v in sim.object_poses().items()},
        "commanded_actions": commanded,
        "sim_time_s": sim_time,
    }
    (tmp / "episode_info.json").write_text(json.dumps(info))
    os.replace(tmp, path)
    return info


def _worker(args: argparse.Namespace, indices: list[int], wid: int) -> None:
    os.environ.setdefault("MUJOCO_GL", "egl")
    from vjepa2_world_model.sim.config import load_config
    from vjepa2_world_model.sim.direct import DirectSim

    sim = DirectSim(load_config(args.sim_config))
    out = Path(args.out)
    log = open(out / f"collect_worker{wid}.log", "a")  # noqa: SIM115
    for i in indices:
        path = out / f"ep_{i:05d}"
        if (path / "metadata.yaml").exists():
            continue
        t = time.time()
        info = collect_episode(sim, path, args.seed + i, args.steps, args.size, args.fps)
        wall = time.time() - t
        real = (args.steps) / args.fps
        log.write(
            json.dumps(
                {
                    "episode": i,
                    "wall_s": round(wall, 2),
                    "sim_s": round(info["sim_time_s"], 2),
                    "speedup_vs_4fps": round(real / wall, 2),
                    "speedup_vs_sim_time": round(info["sim_time_s"] / wall, 2),
                }
            )
            + "\n"
        )
        log.flush()
        print(f"[worker {wid}] ep {i}: {wall:.1f}s wall, {info['sim_time_s']:.1f}s sim", flush=True)


def main(argv: list[str] | None = None) -> int:
    from vjepa2_world_model.progress import iterate, outputs

    ap = argparse.ArgumentParser(prog="vjepa2 collect", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="data/sim/episodes")
    ap.add_argument("--episodes", type=int, default=200)
    ap.add_argument("--steps", type=int, default=48, help="actions per episode (frames = steps+1)")
    ap.add_argument("--size", type=int, default=256, help="square render size (px)")
    ap.add_argument("--fps", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--start", type=int, default=0, help="first episode index")
    ap.add_argument(
        "--sim-config",
        default=None,
        help="cell config YAML (camera framing etc.); default config/sim_cell.yaml",
    )
    args = ap.parse_args(argv)
    if args.episodes < 1 or args.steps < 1 or args.size < 16:
        raise ValueError("episodes, steps must be >= 1 and size >= 16")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    todo = [
        i
        for i in range(args.start, args.start + args.episodes)
        if not (out / f"ep_{i:05d}" / "metadata.yaml").exists()
    ]
    print(
        f"collect: {len(todo)} episodes to write into {out} "
        f"({args.episodes - len(todo)} already done)",
        flush=True,
    )
    t = time.time()
    if args.workers <= 1:
        _worker(args, iterate(todo, desc="collect", unit="episode"), 0)
    else:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        procs = [
            ctx.Process(target=_worker, args=(args, todo[w :: args.workers], w))
            for w in range(args.workers)
        ]
        for p in procs:
            p.start()
        _join_with_progress(procs, out, todo)
    wall = time.time() - t
    if todo:
        real = len(todo) * args.steps / args.fps
        print(
            f"collect: {len(todo)} episodes x {args.steps} steps in {wall:.0f}s wall "
            f"= {real / wall:.1f}x real time (4 fps recording)",
            flush=True,
        )
    outputs("collect", episodes=out, worker_logs=out / "collect_worker*.log")
    return 0


def _join_with_progress(procs: list, out: Path, todo: list[int]) -> None:
    """Wait for the worker processes, counting finished episodes (bar with ETA)."""
    from vjepa2_world_model.progress import progress

    bar = progress(desc="collect", total=len(todo), unit="episode")
    while any(p.is_alive() for p in procs):
        done = sum((out / f"ep_{i:05d}" / "metadata.yaml").exists() for i in todo)
        bar.update(done - bar.n)
        time.sleep(2.0)
    bar.close()
    for p in procs:
        p.join()


if __name__ == "__main__":
    raise SystemExit(main())
