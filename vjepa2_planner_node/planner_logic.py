"""Receding-horizon goal reaching as plain logic (no ROS): the planner_node's loop.

For each (sub-)goal: observe -> move on if the goal's step budget is spent (the paper), the
observed energy is below the threshold, or (optional) it stopped improving -> plan (CEM)
-> execute the first action (blocking, through the bridge) -> repeat. Stale inputs make
it hold (send nothing) and resume when inputs return, for at most ``hold_timeout_s``;
cancel, execution faults and a fault reported by the robot (``GoalRun.fault``, checked
before every step and while holding) stop it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# Planner states (same strings as vjepa2_interfaces/msg/PlannerStatus constants).
IDLE, PLANNING, EXECUTING, HOLDING = "idle", "planning", "executing", "holding"
SUCCEEDED, FAILED, CANCELED = "succeeded", "failed", "canceled"


@dataclass
class Observation:
    z: object  # encoded frame (torch tensor), opaque here
    state: np.ndarray  # (7,)
    frame_seq: int


@dataclass
class Plan:
    action: np.ndarray  # (7,) first action, the one executed
    actions: np.ndarray  # (H, 7) whole planned sequence (for display)
    energy: float  # planned energy of the chosen sequence


@dataclass
class ExecResult:
    success: bool
    message: str = ""
    clamped: bool = False
    state: np.ndarray | None = None


@dataclass
class StepReport:
    step: int
    goal_index: int
    goal_name: str
    state: str
    energy: float = math.nan
    observed_energy: float = math.nan
    action: np.ndarray | None = None
    planned: np.ndarray | None = None
    plan_ms: float = math.nan
    execute_ms: float = math.nan
    step_ms: float = math.nan
    message: str = ""


@dataclass
class Outcome:
    success: bool
    state: str
    final_energy: float
    steps: int
    goals_reached: int
    message: str
    reports: list[StepReport] = field(default_factory=list)


@dataclass
class GoalRun:
    """The hooks the loop needs; the node supplies ROS-backed ones, tests plain ones."""

    observe: Callable[[int], Observation | str]
    """Return a fresh observation newer than frame seq ``after`` or a hold reason (str)."""
    observed_energy: Callable[[Observation, object], float]
    plan: Callable[[Observation, object], Plan]
    execute: Callable[[np.ndarray], ExecResult]
    cancelled: Callable[[], bool]
    report: Callable[[StepReport], None] = lambda r: None
    hold_poll_s: float = 0.05
    hold_timeout_s: float = 10.0
    fault: Callable[[], str | None] = lambda: None
    """A robot fault (e.g. the bridge's status) that must end the goal, or None."""


def run_goals(
    run: GoalRun,
    goals: list[tuple[str, object]],
    budgets: list[int],
    threshold: float,
    patience: int = 0,
    min_improvement: float = 0.0,
) -> Outcome:
    """Reach ``goals`` [(name, z_goal)] in order, ``budgets[i]`` steps each (the paper's
    fixed budgets); a goal also ends when its observed energy falls to ``threshold`` or,
    with ``patience`` > 0, stops improving (``SubGoalSequence``, the one sub-goal walker)."""
    from vjepa2_world_model.planning.receding import BUDGET, REACHED, SubGoal, SubGoalSequence

    if len(budgets) != len(goals):
        raise ValueError(f"{len(goals)} goals but {len(budgets)} step budgets")
    seq = SubGoalSequence([SubGoal(n, z, int(b)) for (n, z), b in zip(goals, budgets,
                                                                      strict=True)],
                          threshold, patience, min_improvement)
    steps = 0
    last_seq = 0
    final_energy = math.nan
    reports: list[StepReport] = []

    def emit(r: StepReport) -> None:
        reports.append(r)
        run.report(r)

    def finish(success: bool, state: str, msg: str) -> Outcome:
        emit(StepReport(steps, min(gi, len(goals) - 1), name, state, final_energy, message=msg))
        return Outcome(success, state, final_energy, steps, sum(seq.reached), msg, reports)

    gi, name = 0, goals[0][0] if goals else ""
    while not seq.done:
        gi, goal = seq.index, seq.current
        name = goal.name
        if run.cancelled():
            return finish(False, CANCELED, f"canceled at step {steps}")
        t_step = time.perf_counter()
        fault = run.fault()
        if fault:
            return finish(False, FAILED, f"robot fault at step {steps}: {fault}")
        obs = _wait_for_observation(run, last_seq, steps, gi, name, emit)
        if obs is None:
            return finish(False, CANCELED, f"canceled while holding at step {steps}")
        if isinstance(obs, str):
            return finish(False, FAILED, obs)
        last_seq = obs.frame_seq
        final_energy = run.observed_energy(obs, goal.features)
        ended = seq.observe(final_energy)
        if ended is not None:
            msg = {REACHED: f"goal {name!r} reached (energy {final_energy:.4f})",
                   BUDGET: f"goal {name!r}: step budget {goal.budget} spent"}.get(
                ended, f"goal {name!r}: energy stopped improving for {patience} steps "
                       f"(energy {final_energy:.4f})")
            emit(StepReport(steps, gi, name, PLANNING, observed_energy=final_energy,
                            message=msg))
            continue
        emit(StepReport(steps, gi, name, PLANNING, observed_energy=final_energy))
        t0 = time.perf_counter()
        try:
            plan = run.plan(obs, goal.features)
        except (RuntimeError, ValueError) as e:
            return finish(False, FAILED, f"planning failed at step {steps}: {e}")
        plan_ms = (time.perf_counter() - t0) * 1e3
        if run.cancelled():
            return finish(False, CANCELED, f"canceled at step {steps}")
        fault = run.fault()
        if fault:
            return finish(False, FAILED, f"robot fault at step {steps}: {fault}")
        emit(StepReport(steps, gi, name, EXECUTING, plan.energy, final_energy,
                        plan.action, plan.actions, plan_ms))
        t1 = time.perf_counter()
        res = run.execute(plan.action)
        exec_ms = (time.perf_counter() - t1) * 1e3
        if run.cancelled():
            return finish(False, CANCELED, f"canceled at step {steps}")
        if not res.success:
            return finish(False, FAILED, f"execution failed at step {steps}: {res.message}")
        steps += 1
        seq.step_done()
        emit(StepReport(steps, gi, name, "step_done", plan.energy, final_energy,
                        plan.action, plan.actions, plan_ms, exec_ms,
                        (time.perf_counter() - t_step) * 1e3, res.message))
    reached = sum(seq.reached)
    success = reached == len(goals)
    msg = f"{reached}/{len(goals)} goals reached in {steps} steps"
    return finish(success, SUCCEEDED if success else FAILED, msg)


def _wait_for_observation(
    run: GoalRun, after: int, steps: int, gi: int, name: str, emit: Callable[[StepReport], None]
) -> Observation | str | None:
    """Block until a fresh observation; HOLDING reports while waiting; None on cancel."""
    holding_since = None
    last_reason = None
    while True:
        obs = run.observe(after)
        if not isinstance(obs, str):
            if holding_since is not None:
                emit(StepReport(steps, gi, name, PLANNING, message="inputs back, resuming"))
            return obs
        now = time.monotonic()
        if holding_since is None:
            holding_since = now
        if obs != last_reason:
            emit(StepReport(steps, gi, name, HOLDING, message=obs))
            last_reason = obs
        if now - holding_since > run.hold_timeout_s:
            return f"inputs stale for more than {run.hold_timeout_s:.1f} s: {obs}"
        fault = run.fault()
        if fault:
            return f"robot fault while holding: {fault}"
        if run.cancelled():
            return None
        time.sleep(run.hold_poll_s)


def expand_budgets(n_goals: int, budgets: list[int], default: int) -> list[int]:
    """Per-goal budgets from a request: [] -> default each, [b] -> b each, else as given."""
    if n_goals == 0:
        raise ValueError("no goals given")
    if not budgets:
        return [default] * n_goals
    if len(budgets) == 1:
        return [int(budgets[0])] * n_goals
    if len(budgets) != n_goals:
        raise ValueError(f"step_budgets has {len(budgets)} values for {n_goals} goals")
    if any(b <= 0 for b in budgets):
        raise ValueError(f"step_budgets must be positive, got {list(budgets)}")
    return [int(b) for b in budgets]
