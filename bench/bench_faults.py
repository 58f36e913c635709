"""Long fault-injection run against the real sim cell + franka_bridge (ground truth).

``python -m bench.bench_faults [--rounds 20] [--burst 100]``: starts a sim cell and a
bridge (default workspace), then for each round sends a burst of concurrent
ExecuteDelta goals in a random direction (0.15 m steps), stops mid-burst every third
round and resumes.  Reports: goals answered / sent, the worst ground-truth distance
outside the workspace box, the largest gap of /franka/ee_state during bursts, the stop
reply latency and how far the arm moved later than 100 ms (sim time) after a stop reply.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--burst", type=int, default=100)
    args = ap.parse_args(argv)
    import sim.conftest  # noqa: F401  (random ROS domain + robot address)
    from sim.rosutil import RosClient, stop_process, wait_for
    from sim.test_faults import BURST, Cell, GroundTruth, _goal, outside

    from vjepa2_world_model.robot.safety import DEFAULT_WORKSPACE

    del BURST
    cell = Cell(Path(tempfile.mkdtemp(prefix="bench_faults_")))
    node = RosClient()
    cell.node, cell.gt = node, GroundTruth(node.node)
    gaps: list[float] = []
    state_times: list[float] = []
    node.node.create_subscription(
        __import__("std_msgs.msg", fromlist=["Float64MultiArray"]).Float64MultiArray,
        "/franka/ee_state",
        lambda _m: state_times.append(time.monotonic()),
        100,
    )
    sent = answered = 0
    stops: list[tuple[float, float]] = []
    try:
        assert wait_for(lambda: node.status.startswith("ok"), 60.0), "cell did not come up"
        t_all = time.monotonic()
        rng = random.Random(0)
        for k in range(args.rounds):
            d = np.array([rng.uniform(-1, 1) for _ in range(3)])
            delta = [*(0.15 * d / np.linalg.norm(d)), 0, 0, 0, 0]
            t0 = time.monotonic()
            futs = [node.client.send_goal_async(_goal(cell, delta)) for _ in range(args.burst)]
            sent += args.burst
            if k % 3 == 2:
                time.sleep(0.3)
                t_req = time.monotonic()
                node.call_trigger("/franka/stop", timeout=10.0)
                t_rep = time.monotonic()
                # wait for 0.5 s of sim time after the reply (a loaded machine runs slow)
                wait_for(
                    lambda t_rep=t_rep: (
                        len(s := cell.gt.since(t_rep)) > 1 and s[-1][1] - s[0][1] > 0.5
                    ),
                    20.0,
                )
                s = cell.gt.since(t_rep)
                still = [x[2] for x in s if x[1] >= s[0][1] + 0.1]
                moved = max(
                    (float(np.linalg.norm(p - still[0])) for p in still), default=float("nan")
                )
                stops.append((t_rep - t_req, moved))
                node.call_trigger("/franka/resume", timeout=10.0)
            wait_for(lambda futs=futs: all(f.done() for f in futs), 60.0)
            res = [f.result().get_result_async() for f in futs if f.done()]
            wait_for(lambda res=res: all(r.done() for r in res), 60.0)
            answered += sum(r.done() for r in res)
            ts = [t for t in state_times if t >= t0]
            if len(ts) > 1:
                gaps.append(float(np.max(np.diff(ts))))
        worst = max(outside(x[2]) for x in cell.gt.since(t_all))
        print(f"workspace {DEFAULT_WORKSPACE}; {args.rounds} bursts of {args.burst}")
        print(f"answered {answered}/{sent} goals")
        print(f"worst ground truth outside the box: {worst * 1000:.1f} mm")
        print(
            f"largest /franka/ee_state gap during bursts: {max(gaps) * 1000:.0f} ms "
            f"(median {np.median(gaps) * 1000:.0f} ms)"
        )
        for lat, moved in stops:
            print(
                f"stop: reply {lat * 1000:.0f} ms, moved {moved * 1000:.2f} mm after "
                f"reply + 100 ms sim"
            )
    finally:
        node.close()
        stop_process(cell.bridge)
        stop_process(cell.sim)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("MUJOCO_GL", "egl")
    raise SystemExit(main())
