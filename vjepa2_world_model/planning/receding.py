"""Receding-horizon planning: plan, execute the first action, observe, re-plan.

``RecedingHorizonPlanner.plan(z_obs, state, z_goal)`` runs one CEM optimisation (one
batched world-model rollout per iteration) and returns the first action plus info; the
next call warm-starts from the previous plan shifted by one step. The goal-sequence loop
around it (observe, sub-goals, execute) is ``agent.py``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .cem import CEM, CEMResult
from .energy import GoalEnergy, layer_norm
from .presets import PlannerConfig
from .state_energy import StateEnergy
from .world_model import WorldModel, make_rollout


@dataclass
class PlanResult:
    """One planning step. ``action`` is finite and within the preset's limits."""

    action: Tensor  # (7,) float32 CPU: dx dy dz droll dpitch dyaw dgripper
    actions: Tensor  # (H, 7) float32 CPU: the whole planned sequence
    energy: float  # mean energy of the final CEM elites (predicted, nan if not ok)
    best_energy: float = math.nan  # lowest predicted energy of any sample
    obs_energy: float = math.nan  # energy of the observed frame itself against the goal
    iterations: int = 0
    plan_ms: float = math.nan
    ok: bool = True
    reason: str = ""
    num_bad: int = 0
    history: list[float] = field(default_factory=list)
    # hold rule (config.hold_margin): which variant of the plan was sent
    choice: str = "plan"  # "plan" | "motion" (gripper change dropped) | "gripper" | "hold"
    hold_energy: float = math.nan  # predicted energy of the zero action (hold rule on)
    plan_energy: float = math.nan  # predicted energy of the CEM plan (hold rule on)

    @property
    def held(self) -> bool:
        """The hold rule replaced the plan by the zero action."""
        return self.choice == "hold"


class RecedingHorizonPlanner:
    """CEM planner over a ``WorldModel``; state kept between calls for warm starts."""

    def __init__(
        self,
        world_model: WorldModel,
        config: PlannerConfig,
        device: torch.device | str | None = None,
        state_energy: StateEnergy | None = None,
    ) -> None:
        config.validate()
        self.world_model = world_model
        self.config = config
        # energy = visual L1 + alpha * state distance to the readout's goal state (None or
        # alpha 0 = the paper's visual energy)
        self.state_energy = state_energy if state_energy and state_energy.alpha > 0 else None
        if device is None:
            device = getattr(world_model, "device", "cpu")
        self.device = torch.device(device)
        self.cem = CEM(config.cem, self.device)
        self.goal: GoalEnergy | None = None
        self._goal_key: tuple[int, int] | None = None
        self._prev: CEMResult | None = None
        self.steps = 0  # planning calls since the last reset (also varies the seed)

    @classmethod
    def from_predictor(
        cls,
        predictor: torch.nn.Module,
        config: PlannerConfig,
        device: torch.device | str | None = None,
        state_energy: StateEnergy | None = None,
    ) -> RecedingHorizonPlanner:
        """Planner over an ACPredictor, built with the config's rollout mode ("cached" /
        "naive"), bf16 autocast (CUDA), torch.compile flag (CUDA) and chunk size."""
        wm = make_rollout(
            predictor,
            config.rollout,
            amp=config.amp,
            compile=config.compile,
            chunk_size=config.chunk_size,
        )
        return cls(wm, config, device, state_energy)

    def reset(self) -> None:
        """Forget the warm start and the step counter (new episode)."""
        self._prev = None
        self.steps = 0

    def set_goal(self, z_goal: Tensor) -> None:
        """Cache the goal's layer-normed features; a different goal drops the warm start."""
        key = (id(z_goal), z_goal._version)
        if self.goal is not None and key == self._goal_key:
            return
        self.goal = GoalEnergy(z_goal.detach(), self.config.energy_weights).to(self.device)
        if self.state_energy is not None:
            self.state_energy.set_goal(z_goal.detach())
        self._goal_key = key
        if self.config.reset_on_goal_change:
            self._prev = None

    def _warm(self) -> tuple[Tensor, Tensor] | tuple[None, None]:
        c = self.config
        if not c.warm_start or self._prev is None or not self._prev.ok:
            return None, None
        mean0, std0 = self.cem.initial()
        prev = self._prev.mean
        mean = torch.cat([prev[1:], prev[-1:] if c.warm_tail == "repeat" else mean0[-1:]])
        std = std0 * c.warm_std_scale
        if c.warm_tail == "zero":
            std[-1] = std0[-1]
        return mean, std

    @torch.no_grad()
    def plan(self, z_obs: Tensor, state: Tensor, z_goal: Tensor | None = None) -> PlanResult:
        """z_obs (N, E) features of the current frame, state (7,), z_goal (N, E) or None
        (use the goal from ``set_goal``) -> PlanResult with the first action."""
        t0 = time.perf_counter()
        if z_goal is not None:
            self.set_goal(z_goal)
        if self.goal is None:
            raise ValueError("no goal: pass z_goal or call set_goal first")
        state = torch.as_tensor(state, dtype=torch.float32).reshape(-1)
        if state.shape != (7,):
            raise ValueError(f"state must have 7 values, got {tuple(state.shape)}")
        if z_obs.dim() == 3 and z_obs.shape[0] == 1:
            z_obs = z_obs[0]
        if z_obs.shape != self.goal.goal.shape:
            raise ValueError(
                f"z_obs {tuple(z_obs.shape)} does not match the goal features "
                f"{tuple(self.goal.goal.shape)}"
            )
        goal = self.goal
        obs_energy = float((layer_norm(z_obs.to(self.device).float()) - goal.goal).abs().mean())
        if not math.isfinite(obs_energy):
            obs_energy = math.nan
        if not torch.isfinite(state).all():
            return self._fail("state is not finite", obs_energy, t0)
        if not torch.isfinite(z_obs).all():
            return self._fail("observation features are not finite", obs_energy, t0)
        wm, state_e = self.world_model, self.state_energy

        def energy_fn(actions: Tensor) -> Tensor:
            e = goal(wm.rollout(z_obs, state, actions)).to(self.device)
            return e if state_e is None else e + state_e(state, actions).to(e.dtype)

        mean, std = self._warm()
        gen = torch.Generator(device=self.device).manual_seed(self.config.cem.seed + self.steps)
        res = self.cem.optimize(energy_fn, mean, std, generator=gen)
        self.steps += 1
        self._prev = res if res.ok else None
        choice, actions, hold_e, plan_e = "plan", res.actions, math.nan, math.nan
        if res.ok and self.config.hold_margin is not None:
            choice, actions, hold_e, plan_e = self._hold(energy_fn, res.actions)
            if choice != "plan":
                self._prev = None
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        actions = actions.detach().float().cpu()
        return PlanResult(
            action=actions[0].clone(),
            actions=actions,
            energy=res.energy,
            best_energy=res.best_energy,
            obs_energy=obs_energy,
            iterations=res.iterations,
            plan_ms=(time.perf_counter() - t0) * 1e3,
            ok=res.ok,
            reason=res.reason,
            num_bad=res.num_bad,
            history=res.history,
            choice=choice,
            hold_energy=hold_e,
            plan_energy=plan_e,
        )

    def _hold(
        self, energy_fn: Callable[[Tensor], Tensor], plan: Tensor
    ) -> tuple[str, Tensor, float, float]:
        """Hold rule: one batched call on the plan's simpler variants -- the zero action,
        the plan's motion without its gripper change, its gripper change alone -- and the
        plan. Moving costs ``hold_margin`` of energy, a gripper change ``gripper_margin``
        (default: the same), so the robot moves or actuates the gripper only when the model
        predicts it pays off; ties go to the simpler variant. Non-finite energies never win
        (plan if all are bad)."""
        margin = float(self.config.hold_margin)
        g_margin = self.config.gripper_margin
        g_margin = margin if g_margin is None else float(g_margin)
        zero = torch.zeros_like(plan)
        motion, grip = plan.clone(), zero.clone()
        motion[:, 6] = 0.0
        grip[:, 6] = plan[:, 6]
        has_motion = bool(plan[:, :6].abs().sum() > 0)
        has_grip = bool(plan[:, 6].abs().sum() > 0)
        cands = [("hold", zero, 0.0)]
        if has_grip:
            cands.append(("gripper", grip, g_margin))
        if has_motion and has_grip:
            cands.append(("motion", motion, margin))
        if has_motion or has_grip:
            cands.append(("plan", plan, margin * has_motion + g_margin * has_grip))
        e = energy_fn(torch.stack([c[1] for c in cands])).double().cpu()
        best, best_cost = "plan", math.inf
        for (name, _, penalty), ei in zip(cands, e.tolist(), strict=True):
            cost = ei + penalty
            if math.isfinite(cost) and cost < best_cost:
                best, best_cost = name, cost
        chosen = {c[0]: c[1] for c in cands}.get(best, plan)
        return best, chosen, float(e[0]), float(e[-1])

    def _fail(self, reason: str, obs_energy: float, t0: float) -> PlanResult:
        H = self.config.cem.horizon
        self._prev = None
        return PlanResult(
            action=torch.zeros(7),
            actions=torch.zeros(H, 7),
            energy=math.nan,
            best_energy=math.nan,
            obs_energy=obs_energy,
            iterations=0,
            plan_ms=(time.perf_counter() - t0) * 1e3,
            ok=False,
            reason=reason,
        )
