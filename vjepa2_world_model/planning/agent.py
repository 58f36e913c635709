"""The goal-reaching agent, ROS-free: camera frame + robot state in, one EE delta out.

One module for the whole loop the planner node runs, in reading order:

- ``Observation`` / ``ObservationBuffer``: the latest camera frame and 7-D state, with a
  stale-input watchdog (``InputHealth``); the node's subscriptions fill it;
- ``WorldModelCore``: the world model as an in-process facade (encoder + AC predictor,
  one copy of the weights in the planner process, no process boundary): encodes the
  latest frame and goal images (cached), observed and predicted energies;
- ``make_planner``: a ``plan(obs, z_goal) -> PlanResult`` hook over a fresh
  ``RecedingHorizonPlanner`` (CEM) on the core's predictor;
- ``SubGoal`` / ``SubGoalSequence``: the one sub-goal walker (which goal, when to move on);
- ``GoalRun`` (the hooks: observe, plan, execute, cancel, fault, report) and
  ``run_goals``: observe -> next goal? -> plan -> execute the first action -> repeat,
  with ``StepReport`` per phase and an ``Outcome`` at the end.

Executing a delta reports the driver's ``ExecutionResult`` (vjepa2_world_model.robot):
the bridge returns the same fields over its ExecuteDelta action.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from .energy import energy
from .presets import PlannerConfig
from .receding import PlanResult, RecedingHorizonPlanner
from .state_energy import StateEnergy
from .world_model import WorldModel, make_rollout

if TYPE_CHECKING:  # the execute hook's result type (the driver's; numpy only)
    from ..robot.franka_control import ExecutionResult

# Planner states (same strings as vjepa2_interfaces/msg/PlannerStatus constants).
IDLE, PLANNING, EXECUTING, HOLDING = "idle", "planning", "executing", "holding"
SUCCEEDED, FAILED, CANCELED = "succeeded", "failed", "canceled"


# -- observations --------------------------------------------------------------------
@dataclass
class Observation:
    """One camera frame as received; ``state`` and ``z`` (its encoded features) are
    filled in when the loop observes it."""

    seq: int  # arrival number of the frame (1, 2, ...)
    image: np.ndarray | None = None  # (H, W, 3) uint8 RGB
    stamp: float = 0.0  # header stamp, s
    received: float = 0.0  # time.monotonic() at receipt
    stamp_ns: int = 0  # header stamp, integer ns (exact, for matching recorded frames)
    state: np.ndarray | None = None  # (7,) robot state read with the frame
    z: Any = None  # (N, E) encoded frame (torch tensor), opaque to the loop


@dataclass
class InputHealth:
    ok: bool
    reason: str = ""
    frame_age: float = float("inf")
    state_age: float = float("inf")


@dataclass
class ObservationBuffer:
    """Latest camera frame + 7-D state with a stale-input watchdog (thread safe)."""

    stale_after: float = 1.0
    clock: Callable[[], float] = time.monotonic
    frame: Observation | None = None
    state: np.ndarray | None = None
    state_received: float = -float("inf")
    faults: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seq: int = 0

    def __post_init__(self) -> None:
        self._changed = threading.Condition(self._lock)  # notified on every frame / state

    def put_frame(self, image: np.ndarray, stamp: float = 0.0, stamp_ns: int = 0) -> Observation:
        with self._lock:
            self._seq += 1
            self.frame = Observation(self._seq, image, stamp, self.clock(), stamp_ns)
            self._changed.notify_all()
            return self.frame

    def put_state(self, state: np.ndarray) -> None:
        state = np.asarray(state, dtype=np.float64).reshape(-1)
        if state.shape != (7,) or not np.all(np.isfinite(state)):
            raise ValueError(f"robot state must be 7 finite values, got {state.tolist()}")
        with self._lock:
            self.state = state
            self.state_received = self.clock()
            self._changed.notify_all()

    def report_fault(self, message: str) -> None:
        with self._lock:
            self.faults.append(message)
            del self.faults[:-20]

    def latest(self) -> tuple[Observation | None, np.ndarray | None]:
        with self._lock:
            return self.frame, None if self.state is None else self.state.copy()

    def health(self) -> InputHealth:
        now = self.clock()
        with self._lock:
            return self._health(now)

    def wait_for_frame(
        self, newer_than: int, received_after: float, timeout: float
    ) -> Observation | str:
        """The latest frame (with the state, copied) once it is newer than seq
        ``newer_than`` and was received at or after ``received_after``; else why there is
        none: the watchdog's reason as soon as an input is stale, or a camera-stale reason
        after ``timeout`` s. Waits on the buffer's condition (woken by every frame and
        state, and when an input would turn stale), no polling."""
        deadline = self.clock() + timeout
        with self._lock:
            while True:
                now = self.clock()
                h = self._health(now)
                if not h.ok:
                    return h.reason
                f = self.frame
                if f.seq > newer_than and f.received >= received_after:
                    return Observation(
                        f.seq, f.image, f.stamp, f.received, f.stamp_ns, state=self.state.copy()
                    )
                if now > deadline:
                    return "camera stale: no new frame after the last motion"
                stale_at = min(f.received, self.state_received) + self.stale_after
                self._changed.wait(max(0.0, min(deadline, stale_at) - now) + 1e-3)

    def _health(self, now: float) -> InputHealth:
        """The watchdog (caller holds the lock)."""
        frame_age = now - self.frame.received if self.frame else float("inf")
        state_age = now - self.state_received
        last_fault = self.faults[-1] if self.faults else ""
        if self.frame is None:
            reason = "no camera frame received yet"
        elif frame_age > self.stale_after:
            reason = f"camera stale: last frame {frame_age:.2f} s ago"
        elif self.state is None:
            reason = "no robot state received yet"
        elif state_age > self.stale_after:
            reason = f"robot state stale: last state {state_age:.2f} s ago"
        else:
            return InputHealth(True, "", frame_age, state_age)
        if last_fault:
            reason += f" (last fault: {last_fault})"
        return InputHealth(False, reason, frame_age, state_age)


# -- the world model, in process -------------------------------------------------------
MAX_GOALS = 32  # encoded goals kept (LRU)


class WorldModelCore:
    """The in-process world model: encoder + AC predictor with an encode cache for the
    latest frame and goal images, the active goal, and energies (one model call at a
    time)."""

    def __init__(
        self,
        encoder: torch.nn.Module,
        predictor: torch.nn.Module,
        device: str = "cpu",
        stale_after: float = 1.0,
    ) -> None:
        self.encoder = encoder
        self.predictor = predictor
        self.device = torch.device(device)
        self.obs = ObservationBuffer(stale_after=stale_after)
        self.goals: OrderedDict[str, torch.Tensor] = OrderedDict()  # LRU, MAX_GOALS
        self.active: torch.Tensor | None = None  # the latched active goal image, encoded
        self._frame_cache: tuple[int, torch.Tensor] | None = None
        self._lock = threading.RLock()  # one model call at a time
        self.model_lock = self._lock
        self._rollouts: dict[tuple, WorldModel] = {}
        self.rollout = self.rollout_for()
        self.encode_ms = float("nan")
        self.predict_ms = float("nan")
        self.checkpoint: str | None = None  # where the weights came from (if a path)

    def rollout_for(self, config: PlannerConfig | None = None) -> WorldModel:
        """The predictor rollout a PlannerConfig asks for (rollout mode, amp, compile,
        chunk size; defaults without one), built once per distinct setting."""
        cfg = config or PlannerConfig()
        key = (cfg.rollout, cfg.amp, cfg.compile, cfg.chunk_size)
        if key not in self._rollouts:
            self._rollouts[key] = make_rollout(
                self.predictor,
                cfg.rollout,
                amp=cfg.amp,
                compile=cfg.compile,
                chunk_size=cfg.chunk_size,
            )
        return self._rollouts[key]

    @torch.no_grad()
    def encode(self, image_rgb: np.ndarray) -> torch.Tensor:
        """(H, W, 3) uint8 RGB -> layer-normed features (N, E) on the model device."""
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
            raise ValueError(f"image must be (H, W, 3) RGB, got shape {image_rgb.shape}")
        with self._lock:
            t0 = time.perf_counter()
            x = torch.from_numpy(np.ascontiguousarray(image_rgb)).to(self.device)[None]
            z = self.encoder.encode_images(x)[0]
            z = F.layer_norm(z.float(), (z.shape[-1],))
            self.encode_ms = (time.perf_counter() - t0) * 1e3
        return z

    def encode_frame(self, frame: Observation) -> torch.Tensor:
        """Encode a buffered frame once (cached by its sequence number)."""
        with self._lock:
            if self._frame_cache is not None and self._frame_cache[0] == frame.seq:
                return self._frame_cache[1]
            z = self.encode(frame.image)
            self._frame_cache = (frame.seq, z)
            return z

    def set_goal(self, name: str, image_rgb: np.ndarray) -> torch.Tensor:
        """Encode a goal image and cache it under ``name`` (re-encodes if given again).

        The cache keeps the ``MAX_GOALS`` most recently used goals; library goals are
        re-encoded from disk when needed again (the active goal is kept apart)."""
        z = self.encode(image_rgb)
        with self._lock:
            self.goals[name] = z
            self.goals.move_to_end(name)
            while len(self.goals) > MAX_GOALS:
                self.goals.popitem(last=False)
        return z

    def set_active_goal(self, image_rgb: np.ndarray) -> torch.Tensor:
        """Encode the goal selector's active goal image (what a request without goals uses)."""
        z = self.encode(image_rgb)
        with self._lock:
            self.active = z
        return z

    def active_goal(self) -> torch.Tensor | None:
        """Features of the active goal image, None until one was set."""
        with self._lock:
            return self.active

    def goal(self, name: str) -> torch.Tensor:
        with self._lock:
            try:
                self.goals.move_to_end(name)
                return self.goals[name]
            except KeyError:
                known = list(self.goals)
        raise KeyError(
            f"goal {name!r} is not encoded (known: {known[:10]}{' ...' if len(known) > 10 else ''})"
        )

    @staticmethod
    def observed_energy(z_obs: torch.Tensor, z_goal: torch.Tensor) -> float:
        """Mean L1 between layer-normed observation and goal features."""
        return float((z_obs - z_goal).abs().mean())

    @torch.no_grad()
    def energies(
        self, z_obs: torch.Tensor, state: np.ndarray, actions: torch.Tensor, z_goal: torch.Tensor
    ) -> torch.Tensor:
        """Energies (S,) of action sequences (S, H, 7) rolled out from (z_obs, state).

        One batched, KV-cached predictor rollout for all S samples; energy = mean L1
        between the layer-normed last prediction and the goal features.
        """
        if actions.ndim != 3 or actions.shape[-1] != 7:
            raise ValueError(f"actions must be (S, H, 7), got {tuple(actions.shape)}")
        with self._lock:
            t0 = time.perf_counter()
            s0 = torch.as_tensor(np.asarray(state), dtype=torch.float32)
            pred = self.rollout.rollout(z_obs, s0, actions.float())
            e = energy(pred, z_goal)
            self.predict_ms = (time.perf_counter() - t0) * 1e3
        return e


def make_planner(
    core: WorldModelCore,
    config: PlannerConfig | None = None,
    state_energy: StateEnergy | None = None,
) -> Callable[[Observation, torch.Tensor], PlanResult]:
    """A ``plan(obs, z_goal) -> PlanResult`` hook backed by a fresh RecedingHorizonPlanner
    (fresh per goal request, so the same seed and inputs plan the same deltas) over the
    core's predictor with the config's rollout mode, autocast, compile flag and chunk
    size; ``state_energy`` adds alpha * the state distance to the readout's goal state.
    A failed plan (not ``ok``) raises RuntimeError (the loop fails the goal with it)."""
    cfg = config or PlannerConfig()
    planner = RecedingHorizonPlanner(
        core.rollout_for(cfg), cfg, device=core.device, state_energy=state_energy
    )

    def plan(obs: Observation, z_goal: torch.Tensor) -> PlanResult:
        with core.model_lock:
            res = planner.plan(obs.z, torch.as_tensor(obs.state, dtype=torch.float32), z_goal)
        core.predict_ms = res.plan_ms
        if not res.ok:
            raise RuntimeError(f"planning failed: {res.reason}")
        return res

    return plan


# -- the sub-goal walker ----------------------------------------------------------------
@dataclass
class SubGoal:
    """One goal image's features with its step budget (and optional own threshold)."""

    name: str
    features: Any  # (N, E) tensor (opaque to the walker)
    budget: int
    threshold: float | None = None


REACHED, BUDGET, PLATEAU = "reached", "budget", "plateau"


class SubGoalSequence:
    """The one sub-goal walker (``run_goals`` uses it): which goal to plan toward, and
    when to move on.

    Before each planning step call ``observe(energy)`` with the observed frame's energy
    against the current goal; it returns why the goal ends (and advances) or None to plan
    toward it. After each executed step call ``step_done()``. A goal ends when
    - its step budget is spent (``BUDGET``; the paper: fixed budgets, 4/10/4 for
      pick-and-place), or
    - the energy falls to its threshold (``REACHED``; the goal's own, else the
      sequence's; None = off), or
    - with ``patience`` > 0, the energy has not improved on the goal's best by more than
      ``min_improvement`` for ``patience`` observations in a row (``PLATEAU``).
    """

    def __init__(
        self,
        goals: Sequence[SubGoal],
        energy_threshold: float | None = None,
        patience: int = 0,
        min_improvement: float = 0.0,
    ) -> None:
        if not goals:
            raise ValueError("SubGoalSequence needs at least one goal")
        for g in goals:
            if g.budget < 1:
                raise ValueError(f"sub-goal {g.name!r} has step budget {g.budget} < 1")
        if patience < 0 or min_improvement < 0:
            raise ValueError("patience and min_improvement must be >= 0")
        self.goals = list(goals)
        self.energy_threshold = energy_threshold
        self.patience = int(patience)
        self.min_improvement = float(min_improvement)
        self.index = 0
        self.steps_on_goal = 0
        self.total_steps = 0
        self.reached: list[bool] = []  # per finished goal: reached by threshold?
        self.reasons: list[str] = []  # per finished goal: REACHED | BUDGET | PLATEAU
        self._best = math.inf
        self._stall = 0

    @property
    def done(self) -> bool:
        return self.index >= len(self.goals)

    @property
    def current(self) -> SubGoal | None:
        return None if self.done else self.goals[self.index]

    @property
    def total_budget(self) -> int:
        return sum(g.budget for g in self.goals)

    def observe(self, energy: float) -> str | None:
        """The observed energy against the current goal -> the reason the goal ends (the
        sequence then advances) or None (plan toward it)."""
        goal = self.current
        if goal is None:
            return None
        thr = goal.threshold if goal.threshold is not None else self.energy_threshold
        finite = math.isfinite(energy)
        reason = None
        if thr is not None and finite and energy <= thr:
            reason = REACHED
        elif self.steps_on_goal >= goal.budget:
            reason = BUDGET
        elif self.patience > 0:
            if finite and energy < self._best - self.min_improvement:
                self._best, self._stall = energy, 0
            elif self.steps_on_goal > 0:
                self._stall += 1
            if self._stall >= self.patience:
                reason = PLATEAU
        if reason is not None:
            self.reached.append(reason == REACHED)
            self.reasons.append(reason)
            self.index += 1
            self.steps_on_goal = 0
            self._best, self._stall = math.inf, 0
        return reason

    def step_done(self) -> None:
        """Count one executed step toward the current goal."""
        if not self.done:
            self.steps_on_goal += 1
            self.total_steps += 1


# -- the goal-sequence loop --------------------------------------------------------------
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
    """Return a fresh observation (``state`` and ``z`` set) newer than frame seq ``after``
    or a hold reason (str)."""
    observed_energy: Callable[[Observation, object], float]
    plan: Callable[[Observation, object], PlanResult]
    execute: Callable[[np.ndarray], ExecutionResult]
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
    with ``patience`` > 0, stops improving (``SubGoalSequence``).

    Per step: observe -> move on if the goal ended -> plan (CEM) -> execute the first
    action (blocking, through the bridge) -> repeat. Stale inputs make it hold (send
    nothing) and resume when inputs return, for at most ``hold_timeout_s``; cancel,
    execution faults and a robot fault (``GoalRun.fault``, checked before every step and
    while holding) stop it."""
    if len(budgets) != len(goals):
        raise ValueError(f"{len(goals)} goals but {len(budgets)} step budgets")
    seq = SubGoalSequence(
        [SubGoal(n, z, int(b)) for (n, z), b in zip(goals, budgets, strict=True)],
        threshold,
        patience,
        min_improvement,
    )
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
        last_seq = obs.seq
        final_energy = run.observed_energy(obs, goal.features)
        ended = seq.observe(final_energy)
        if ended is not None:
            msg = {
                REACHED: f"goal {name!r} reached (energy {final_energy:.4f})",
                BUDGET: f"goal {name!r}: step budget {goal.budget} spent",
            }.get(
                ended,
                f"goal {name!r}: energy stopped improving for {patience} steps "
                f"(energy {final_energy:.4f})",
            )
            emit(StepReport(steps, gi, name, PLANNING, observed_energy=final_energy, message=msg))
            continue
        emit(StepReport(steps, gi, name, PLANNING, observed_energy=final_energy))
        t0 = time.perf_counter()
        try:
            plan = run.plan(obs, goal.features)
        except (RuntimeError, ValueError) as e:
            return finish(False, FAILED, f"planning failed at step {steps}: {e}")
        plan_ms = (time.perf_counter() - t0) * 1e3
        action = np.asarray(plan.action, dtype=np.float64)
        planned = np.asarray(plan.actions, dtype=np.float64)
        if run.cancelled():
            return finish(False, CANCELED, f"canceled at step {steps}")
        fault = run.fault()
        if fault:
            return finish(False, FAILED, f"robot fault at step {steps}: {fault}")
        emit(
            StepReport(
                steps, gi, name, EXECUTING, plan.energy, final_energy, action, planned, plan_ms
            )
        )
        t1 = time.perf_counter()
        res = run.execute(action)
        exec_ms = (time.perf_counter() - t1) * 1e3
        if run.cancelled():
            return finish(False, CANCELED, f"canceled at step {steps}")
        if not res.success:
            return finish(False, FAILED, f"execution failed at step {steps}: {res.message}")
        steps += 1
        seq.step_done()
        emit(
            StepReport(
                steps,
                gi,
                name,
                "step_done",
                plan.energy,
                final_energy,
                action,
                planned,
                plan_ms,
                exec_ms,
                (time.perf_counter() - t_step) * 1e3,
                res.message,
            )
        )
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
