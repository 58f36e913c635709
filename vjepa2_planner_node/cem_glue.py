"""Bind the planning library's CEM to a WorldModelCore: ``make_planner(core, ...)``.

The returned callable plans one receding-horizon step from an observation towards a
goal: one batched energy evaluation (all CEM samples at once) per CEM iteration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from vjepa2_planner_node.planner_logic import Observation, Plan
from vjepa2_planner_node.world_model_core import WorldModelCore


@dataclass
class CEMSettings:
    """CEM settings (reference-release defaults scaled to the cpu preset)."""

    horizon: int = 1
    samples: int = 64
    iterations: int = 3
    elites: int = 8
    maxnorm: float = 0.05  # per-axis clip of xyz (m)
    gripper_clip: float = 0.75
    momentum: float = 0.1
    init_std: float = 0.05
    seed: int = 0


def _library_cem() -> Callable | None:
    """The planning library's CEM if it is there (vjepa2_world_model.planning.cem)."""
    try:
        from vjepa2_world_model.planning import cem  # noqa: F401
    except ImportError:
        return None
    return getattr(cem, "cem_plan", None)


def _cem(
    energy_fn: Callable[[torch.Tensor], torch.Tensor], cfg: CEMSettings, gen: torch.Generator
) -> tuple[torch.Tensor, float]:
    """Minimal CEM over (H, 7) sequences sampling xyz + gripper (rotation 0)."""
    h = cfg.horizon
    mean = torch.zeros(h, 4)
    std = torch.full((h, 4), cfg.init_std)
    limits = torch.tensor([cfg.maxnorm] * 3 + [cfg.gripper_clip])
    best, best_e = torch.zeros(h, 7), float("inf")
    for _ in range(cfg.iterations):
        noise = torch.randn(cfg.samples, h, 4, generator=gen)
        x = (mean + std * noise).clamp(-limits, limits)
        acts = torch.zeros(cfg.samples, h, 7)
        acts[..., :3] = x[..., :3]
        acts[..., 6] = x[..., 3]
        e = energy_fn(acts).float().cpu()
        idx = torch.argsort(e)[: cfg.elites]
        elite = x[idx]
        mean = cfg.momentum * mean + (1 - cfg.momentum) * elite.mean(0)
        std = cfg.momentum * std + (1 - cfg.momentum) * elite.std(0).clamp_min(1e-4)
        if float(e[idx[0]]) < best_e:
            best_e, best = float(e[idx[0]]), acts[idx[0]].clone()
    final = torch.zeros(1, h, 7)
    final[0, :, :3] = mean[:, :3]
    final[0, :, 6] = mean[:, 3]
    final_e = float(energy_fn(final)[0])
    if final_e <= best_e:
        return final[0], final_e
    return best, best_e


def make_planner(
    core: WorldModelCore, cfg: CEMSettings | None = None
) -> Callable[[Observation, torch.Tensor], Plan]:
    """A ``plan(obs, z_goal) -> Plan`` for planner_logic.run_goals, seeded per step."""
    cfg = cfg or CEMSettings()
    step_counter = [0]

    def plan(obs: Observation, z_goal: torch.Tensor) -> Plan:
        gen = torch.Generator().manual_seed(cfg.seed + step_counter[0])
        step_counter[0] += 1

        def energy_fn(actions: torch.Tensor) -> torch.Tensor:
            return core.energies(obs.z, obs.state, actions, z_goal)

        seq, energy = _cem(energy_fn, cfg, gen)
        seq_np = seq.double().numpy()
        return Plan(action=seq_np[0].copy(), actions=seq_np, energy=float(energy))

    return plan


def observe_energy(core: WorldModelCore) -> Callable[[Observation, torch.Tensor], float]:
    return lambda obs, z_goal: core.observed_energy(obs.z, z_goal)


def as_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
