"""Bind the planning library (vjepa2_world_model.planning) to a WorldModelCore.

``make_planner(core, settings)`` returns the ``plan(obs, z_goal) -> Plan`` callable that
planner_logic.run_goals uses: a RecedingHorizonPlanner (CEM, one batched rollout of all
samples per iteration) over the core's predictor, with the PlannerConfig's rollout mode,
autocast, compile flag and chunk size, fresh per goal request so a request with the same
seed and inputs plans the same deltas.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from vjepa2_planner_node.params import ParamError
from vjepa2_planner_node.planner_logic import Observation, Plan
from vjepa2_planner_node.world_model_core import WorldModelCore


@dataclass
class CEMSettings:
    """Preset name + the node's overrides; every default is the preset's (PlannerConfig).

    0 (horizon, samples, iterations, elites) and NaN (hold_margin, gripper_margin) mean
    "the preset's value". A ROS double cannot be None, so a negative margin turns the
    hold rule off (hold_margin) or makes the gripper cost follow hold_margin
    (gripper_margin), as PlannerConfig's None does.
    """

    preset: str = "cpu"
    horizon: int = 0
    samples: int = 0
    iterations: int = 0
    elites: int = 0
    seed: int = 0
    hold_margin: float = math.nan
    gripper_margin: float = math.nan
    state_alpha: float = 0.0  # energy = visual + alpha * state distance (0 = the paper)
    readout: str = ""  # readout head file (state from goal features); needed if alpha > 0

    def planner_config(self):  # noqa: ANN201
        """The planning library's PlannerConfig; ParamError naming the bad parameter."""
        from vjepa2_world_model.planning import get_preset

        overrides: dict[str, object] = {
            k: int(v) for k, v in (("horizon", self.horizon), ("num_samples", self.samples),
                                   ("iterations", self.iterations), ("top_k", self.elites))
            if int(v) > 0}
        overrides["seed"] = int(self.seed)
        for name in ("hold_margin", "gripper_margin"):
            v = float(getattr(self, name))
            if not math.isnan(v):
                overrides[name] = v if v >= 0 else None
        try:
            return get_preset(self.preset, **overrides)
        except ValueError as e:
            param = "preset" if "preset" in str(e) else "samples/elites/iterations/horizon"
            raise ParamError(param, str(e)) from None


def load_readout(path: str, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The state readout head (``vjepa2 train-readout``); ParamError naming ``readout``."""
    from vjepa2_world_model.checkpoints import load_model
    from vjepa2_world_model.models.readout import StateReadout

    try:
        model = load_model(path, device)
    except ValueError as e:
        raise ParamError("readout", str(e)) from None
    if not isinstance(model, StateReadout):
        raise ParamError("readout", f"{path} is not a readout head")
    return model


def make_planner(
    core: WorldModelCore, settings: CEMSettings | None = None,
    readout: torch.nn.Module | None = None,
) -> Callable[[Observation, torch.Tensor], Plan]:
    """A ``plan(obs, z_goal) -> Plan`` backed by a fresh RecedingHorizonPlanner; with
    ``settings.state_alpha`` > 0 its energy adds alpha * the state distance to the goal
    state that ``readout`` estimates from the goal image."""
    from vjepa2_world_model.planning import RecedingHorizonPlanner, StateEnergy

    settings = settings or CEMSettings()
    cfg = settings.planner_config()
    state_e = None
    if settings.state_alpha > 0:
        if readout is None:
            raise ParamError("readout", "state_alpha > 0 needs a readout head")
        state_e = StateEnergy(readout, settings.state_alpha)
    planner = RecedingHorizonPlanner(core.rollout_for(cfg), cfg, device=core.device,
                                     state_energy=state_e)

    def plan(obs: Observation, z_goal: torch.Tensor) -> Plan:
        with core.model_lock:
            res = planner.plan(obs.z, torch.as_tensor(obs.state, dtype=torch.float32), z_goal)
        core.predict_ms = res.plan_ms
        if not res.ok:
            raise RuntimeError(f"planning failed: {res.reason}")
        actions = res.actions.double().numpy()
        return Plan(action=actions[0].copy(), actions=actions, energy=float(res.energy))

    return plan
