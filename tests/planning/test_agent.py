"""The agent (vjepa2_world_model.planning.agent): goal-sequence loop, sub-goal walker,
observation watchdog, in-process world model and its planner hook (no ROS)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.nodes.toy_model import toy_core
from vjepa2_world_model.planning import PlanResult, get_preset
from vjepa2_world_model.planning.agent import (
    CANCELED,
    FAILED,
    HOLDING,
    MAX_GOALS,
    SUCCEEDED,
    GoalRun,
    Observation,
    ObservationBuffer,
    SubGoal,
    SubGoalSequence,
    expand_budgets,
    make_planner,
    run_goals,
)
from vjepa2_world_model.robot.franka_control import ExecutionResult


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make_run(
    energies: list[float],
    obs_script: list | None = None,
    fail_at: int = -1,
    cancel_after: int = 10**9,
) -> tuple[GoalRun, dict]:
    """A GoalRun whose observed energy follows ``energies`` (one per observation)."""
    log: dict = {"executed": [], "reports": [], "seq": 0}
    script = list(obs_script or [])
    it = iter(energies)

    def observe(after: int) -> Observation | str:
        if script:
            item = script.pop(0)
            if isinstance(item, str):
                return item
        log["seq"] += 1
        return Observation(log["seq"], z=next(it), state=np.zeros(7))

    def execute(a: np.ndarray) -> ExecutionResult:
        log["executed"].append(a)
        if len(log["executed"]) == fail_at:
            return ExecutionResult(False, "joint limit")
        return ExecutionResult(True)

    run = GoalRun(
        observe=observe,
        observed_energy=lambda obs, zg: obs.z,
        plan=lambda obs, zg: PlanResult(
            torch.full((7,), 0.01), torch.full((2, 7), 0.01), obs.z - 0.1
        ),
        execute=execute,
        cancelled=lambda: len(log["executed"]) >= cancel_after,
        report=log["reports"].append,
        hold_poll_s=0.0,
    )
    return run, log


def test_run_goals_stops_at_threshold_then_next_goal() -> None:
    run, log = make_run([0.9, 0.5, 0.2, 0.8, 0.1])
    out = run_goals(run, [("a", None), ("b", None)], [5, 5], threshold=0.3)
    assert out.success and out.state == SUCCEEDED
    assert out.steps == 3 and out.goals_reached == 2 and len(log["executed"]) == 3
    assert math.isclose(out.final_energy, 0.1)
    done = [r for r in log["reports"] if r.state == "step_done"]
    assert [r.step for r in done] == [1, 2, 3] and [r.goal_index for r in done] == [0, 0, 1]


def test_run_goals_budget_spent_is_failure() -> None:
    run, _log = make_run([0.9] * 10)
    out = run_goals(run, [("a", None)], [3], threshold=0.3)
    assert not out.success and out.state == FAILED and out.steps == 3
    assert "0/1" in out.message


def test_run_goals_patience_moves_on_and_counts_as_not_reached() -> None:
    run, log = make_run([0.9, 0.8, 0.85, 0.86, 0.5, 0.4, 0.3])
    out = run_goals(run, [("a", None), ("b", None)], [9, 2], threshold=0.0, patience=2)
    msgs = [r.message for r in log["reports"] if r.message]
    assert any("stopped improving" in m for m in msgs), msgs
    # goal a: steps after 0.9, 0.8, 0.85; 0.86 is the second without a gain -> goal b
    done = [r.goal_index for r in log["reports"] if r.state == "step_done"]
    assert done == [0, 0, 0, 1, 1] and out.steps == 5
    assert not out.success and out.goals_reached == 0 and "0/2" in out.message


def test_hold_while_stale_then_resume() -> None:
    stale = "camera stale: 2 s"
    run, log = make_run([0.9, 0.8, 0.7], obs_script=[None, stale, stale])
    out = run_goals(run, [("a", None)], [2], threshold=0.1)
    states = [r.state for r in log["reports"]]
    assert HOLDING in states
    held = [r for r in log["reports"] if r.state == HOLDING]
    assert len(held) == 1 and "camera stale" in held[0].message  # reported once per reason
    assert out.steps == 2  # resumed after inputs returned


def test_hold_timeout_fails_and_cancel_stops() -> None:
    run, _ = make_run([0.9], obs_script=["no camera frame"] * 1000)
    run.hold_timeout_s = 0.0
    out = run_goals(run, [("a", None)], [2], threshold=0.1)
    assert out.state == FAILED and "stale" in out.message
    run, log = make_run([0.9] * 10, cancel_after=2)
    out = run_goals(run, [("a", None)], [9], threshold=0.1)
    assert out.state == CANCELED and len(log["executed"]) == 2


def test_execution_fault_stops() -> None:
    run, _log = make_run([0.9] * 10, fail_at=2)
    out = run_goals(run, [("a", None)], [9], threshold=0.1)
    assert out.state == FAILED and "joint limit" in out.message and out.steps == 1


def test_expand_budgets() -> None:
    assert expand_budgets(3, [], 7) == [7, 7, 7]
    assert expand_budgets(3, [4], 7) == [4, 4, 4]
    assert expand_budgets(3, [4, 10, 4], 7) == [4, 10, 4]
    with pytest.raises(ValueError, match="2 values for 3 goals"):
        expand_budgets(3, [1, 2], 7)
    with pytest.raises(ValueError, match="no goals"):
        expand_budgets(0, [], 7)


def test_observation_watchdog() -> None:
    clock = Clock()
    buf = ObservationBuffer(stale_after=0.5, clock=clock)
    assert not buf.health().ok and "no camera frame" in buf.health().reason
    buf.put_frame(np.zeros((4, 4, 3), np.uint8))
    assert "no robot state" in buf.health().reason
    buf.put_state(np.arange(7.0))
    assert buf.health().ok
    clock.t = 0.6
    h = buf.health()
    assert not h.ok and "camera stale" in h.reason and h.frame_age == pytest.approx(0.6)
    buf.report_fault("malformed camera frame: step 5")
    assert "malformed camera frame" in buf.health().reason
    buf.put_frame(np.zeros((4, 4, 3), np.uint8))
    buf.put_state(np.arange(7.0))
    assert buf.health().ok
    with pytest.raises(ValueError, match="7 finite"):
        buf.put_state(np.array([1.0, np.nan, 0, 0, 0, 0, 0]))


def test_cem_planner_on_toy_model() -> None:
    core = toy_core()
    img = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    z0 = core.encode(img)
    a_star = torch.tensor([[0.03, -0.02, 0.01, 0, 0, 0, 0.3]])
    zhat = core.predictor.step(z0[None], a_star, torch.zeros(1, 7), core.predictor.new_cache())
    zg = torch.nn.functional.layer_norm(zhat[0], (zhat.shape[-1],))  # reachable goal
    obs = Observation(1, z=z0, state=np.zeros(7))
    cfg = get_preset("cpu", horizon=1, num_samples=64, iterations=4, top_k=8, seed=3)
    p1 = make_planner(core, cfg)(obs, zg)
    assert p1.ok and p1.action.shape == (7,) and p1.actions.shape == (1, 7)
    actions, action = p1.actions.numpy(), p1.action.numpy()
    # cpu preset: xyz in an L1 ball of 0.075, rotation not searched
    assert np.abs(actions[:, :3]).sum(-1).max() <= 0.075 + 1e-6
    assert np.all(actions[:, 3:6] == 0)
    e0 = float(core.energies(z0, np.zeros(7), torch.zeros(1, 1, 7), zg)[0])
    assert p1.energy < 0.7 * e0  # much better than doing nothing
    assert np.sign(action[0]) == 1 and np.sign(action[6]) == 1  # towards a_star
    p2 = make_planner(core, cfg)(obs, zg)  # seeded: same plan again
    np.testing.assert_allclose(p1.action, p2.action)
    with pytest.raises(ValueError, match=r"\(S, H, 7\)"):
        core.energies(z0, np.zeros(7), torch.zeros(2, 7), zg)


def test_robot_fault_fails_goal_also_while_holding() -> None:
    """A fault reported by the bridge ends the goal with it; a held goal does not wait."""
    run, log = make_run([0.9] * 10)
    faults = iter([None, None, "bridge reports fault: robot unreachable"] + [None] * 10)
    run.fault = lambda: next(faults)
    out = run_goals(run, [("a", None)], [9], threshold=0.1)
    assert out.state == FAILED and "robot unreachable" in out.message
    assert len(log["executed"]) == 1  # nothing sent after the fault
    run, log = make_run([0.9], obs_script=["robot state stale"] * 1000)
    calls = {"n": 0}

    def fault() -> str | None:
        calls["n"] += 1
        return "bridge reports fault: tracking error" if calls["n"] > 3 else None

    run.fault = fault
    out = run_goals(run, [("a", None)], [2], threshold=0.1)
    assert out.state == FAILED and "tracking error" in out.message and not log["executed"]


def test_goal_cache_is_bounded_lru_and_the_active_goal_is_apart() -> None:
    core = toy_core()
    img = np.zeros((32, 32, 3), np.uint8)
    z_active = core.set_active_goal(img + 7)
    for i in range(MAX_GOALS + 50):
        core.set_goal(f"request:g{i}", img)
        if i == MAX_GOALS + 20:
            core.goal("request:g30")  # used again: kept longer than g31 and later ones
    assert len(core.goals) == MAX_GOALS
    assert "request:g30" in core.goals and "request:g31" not in core.goals
    assert f"request:g{MAX_GOALS + 49}" in core.goals and "request:g0" not in core.goals
    with pytest.raises(KeyError, match="not encoded"):
        core.goal("request:g31")
    assert core.active_goal() is z_active  # never evicted by request goals


def test_node_planner_uses_the_configs_rollout_settings() -> None:
    from vjepa2_world_model.planning import get_preset
    from vjepa2_world_model.planning.world_model import CachedRollout, NaiveRollout

    core = toy_core()
    naive = core.rollout_for(get_preset("cpu", rollout="naive", chunk_size=3, amp=False))
    assert isinstance(naive, NaiveRollout) and naive.chunk_size == 3 and not naive.amp
    assert isinstance(core.rollout_for(get_preset("cpu")), CachedRollout)
    assert core.rollout_for(get_preset("cpu", rollout="naive", chunk_size=3, amp=False)) is naive


def test_subgoal_sequence_budget_and_threshold() -> None:
    f = [torch.zeros(2, 3) + i for i in range(3)]
    seq = SubGoalSequence(
        [
            SubGoal(n, z, b)
            for n, z, b in zip(("grasp", "carry", "place"), f, (4, 10, 4), strict=True)
        ],
        energy_threshold=0.1,
    )
    assert [g.budget for g in seq.goals] == [4, 10, 4] and seq.total_budget == 18
    ends = []
    for _ in range(4):  # the loop's order: observe (goal ends?) -> plan, execute -> step_done
        ends.append(seq.observe(1.0))
        seq.step_done()
    assert ends == [None] * 4
    assert seq.observe(1.0) == "budget" and seq.index == 1 and seq.current.name == "carry"
    assert seq.observe(0.5) is None
    seq.step_done()
    assert seq.observe(0.05) == "reached"  # threshold hit
    assert seq.observe(math.nan) is None  # NaN never counts as reached
    for _ in range(4):
        seq.step_done()
        seq.observe(1.0)
    assert seq.done and seq.current is None and seq.reached == [False, True, False]
    assert seq.total_steps == 9 and seq.observe(0.0) is None
    assert seq.reasons == ["budget", "reached", "budget"]
    own = SubGoalSequence([SubGoal("a", f[0], 5, threshold=0.2)])
    assert own.observe(0.15) == "reached"
    with pytest.raises(ValueError, match="budget"):
        SubGoalSequence([SubGoal("a", f[0], 0)])


def test_subgoal_sequence_moves_on_when_the_energy_stops_improving() -> None:
    f = [torch.zeros(2, 3), torch.ones(2, 3)]
    goals = [SubGoal("a", f[0], 10), SubGoal("b", f[1], 10)]
    fixed = SubGoalSequence(goals)  # the paper: budgets only
    seq = SubGoalSequence(goals, patience=2, min_improvement=0.01)
    ends = []
    for e in [0.9, 0.7, 0.5, 0.495, 0.6, 0.4]:  # 0.495 and 0.6: no gain of > 0.01
        ends.append(seq.observe(e))
        assert fixed.observe(e) is None
        if ends[-1] is None:
            seq.step_done()
            fixed.step_done()
    assert ends == [None, None, None, None, "plateau", None]
    assert seq.index == 1 and seq.steps_on_goal == 1 and seq.reasons == ["plateau"]
    assert fixed.index == 0 and fixed.steps_on_goal == 5
    # the new goal starts its own count: a worse energy at its first observation is fine
    assert seq.observe(0.8) is None
    with pytest.raises(ValueError, match="patience"):
        SubGoalSequence(goals, patience=-1)


def test_wait_for_frame_wakes_on_the_next_frame_and_names_stale_inputs() -> None:
    import threading
    import time

    buf = ObservationBuffer(stale_after=0.5)
    assert "no camera frame" in buf.wait_for_frame(0, 0.0, 0.2)
    buf.put_state(np.arange(7.0))
    first = buf.put_frame(np.zeros((4, 4, 3), np.uint8), stamp_ns=5)
    got = buf.wait_for_frame(0, 0.0, 0.2)
    assert got.seq == first.seq and got.stamp_ns == 5 and np.array_equal(got.state, np.arange(7.0))
    got.state[0] = 99.0  # a copy: the buffer keeps its state
    assert buf.latest()[1][0] == 0.0

    def later() -> None:
        time.sleep(0.1)
        buf.put_state(np.arange(7.0))
        buf.put_frame(np.ones((4, 4, 3), np.uint8))

    t0 = time.monotonic()
    threading.Thread(target=later).start()
    got = buf.wait_for_frame(first.seq, 0.0, 0.45)  # the frame arrives while it waits
    assert got.seq == first.seq + 1 and time.monotonic() - t0 < 0.4
    t0 = time.monotonic()
    reason = buf.wait_for_frame(got.seq, 0.0, 10.0)  # nothing new: ends when inputs go stale
    assert "stale" in reason and 0.3 < time.monotonic() - t0 < 2.0
    buf.put_state(np.arange(7.0))
    buf.put_frame(np.zeros((4, 4, 3), np.uint8))
    assert buf.wait_for_frame(10**6, 0.0, 0.05) == (
        "camera stale: no new frame after the last motion"
    )
