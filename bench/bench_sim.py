"""Speed of the direct-stepping simulator: frames (move + 256x256 render) per wall second.

`python -m bench.bench_sim [--frames N]` prints wall time per frame, simulated time per
frame, the speed-up over real time (simulated / wall) and over a 4 fps camera.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--max-step", type=float, default=0.03, help="max per-axis delta (m)")
    args = p.parse_args(argv)

    from vjepa2_world_model.sim import DirectSim

    sim = DirectSim()
    sim.reset(seed=0)
    sim.render(args.size, args.size)
    rng = np.random.default_rng(0)
    t_move = t_render = 0.0
    t_sim0 = sim.time
    pos_err = []
    for i in range(args.frames):
        a = np.zeros(7)
        a[:3] = rng.uniform(-args.max_step, args.max_step, 3)
        if i % 15 == 14:
            a[6] = 1.0 if sim.ee_state7()[6] < 0.5 else -1.0
        t0 = time.perf_counter()
        sim.move_ee_delta(a)
        t1 = time.perf_counter()
        sim.render(args.size, args.size)
        t2 = time.perf_counter()
        t_move += t1 - t0
        t_render += t2 - t1
        pos_err.append(sim.last_result.position_error)
    n = args.frames
    wall = (t_move + t_render) / n
    sim_t = (sim.time - t_sim0) / n
    print(
        f"frames: {n}  move: {t_move / n * 1e3:.1f} ms  render {args.size}px: "
        f"{t_render / n * 1e3:.1f} ms  per frame: {wall * 1e3:.1f} ms"
    )
    print(
        f"simulated time per move: {sim_t:.3f} s  -> speed-up over real time "
        f"(sim/wall): {sim_t / wall:.1f}x"
    )
    print(f"frames/s: {1 / wall:.1f}  -> speed-up over a 4 fps camera: {1 / wall / 4:.1f}x")
    print(
        f"final position error: mean {np.mean(pos_err) * 1e3:.2f} mm, "
        f"max {np.max(pos_err) * 1e3:.2f} mm"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
