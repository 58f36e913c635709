"""Scripted end-effector moves in the direct-stepping sim, for the benchmarks' setups.

Ground-truth driven on purpose: these build start scenes and goal images for measuring
the model; the planner never sees them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

GRASP_Z = 0.022  # TCP height with the fingers around the 4 cm cube on the table
HOVER_Z = 0.12


def drive_to(
    sim: Any,
    target: np.ndarray,
    dgripper: float = 0.0,
    max_step: float = 0.07,
    iters: int = 10,
    tol: float = 0.004,
) -> None:
    """Step straight toward ``target`` (xyz) in moves of at most ``max_step`` per axis until
    within ``tol``; then, if ``dgripper`` is non-zero, one gripper-only move."""
    for _ in range(iters):
        d = target - sim.ee_state7()[:3]
        if np.linalg.norm(d) < tol:
            break
        a = np.zeros(7)
        a[:3] = np.clip(d, -max_step, max_step)
        sim.move_ee_delta(a)
    if dgripper:
        a = np.zeros(7)
        a[6] = dgripper
        sim.move_ee_delta(a)


def hand_around_cube(sim: Any, seed: int, **drive: Any) -> tuple[np.ndarray, np.ndarray]:
    """Reset with ``seed``, hover above the cube, descend with the hand open around it.

    Returns (cube rest position, grasp position); ``drive`` goes to :func:`drive_to`."""
    sim.reset(seed=seed)
    cube = sim.object_poses()["cube"][:3].copy()
    grasp = np.array([cube[0], cube[1], GRASP_Z])
    drive_to(sim, np.array([cube[0], cube[1], HOVER_Z]), **drive)
    drive_to(sim, grasp, **drive)
    return cube, grasp
