"""Latent-space planning with V-JEPA 2-AC: energy, CEM, receding horizon, presets.

The goal-reaching loop over a planner (observations, the in-process world model, sub-goals,
execute hooks) is ``vjepa2_world_model.planning.agent`` (imported on its own).

Pure PyTorch (no ROS). Typical use::

    from vjepa2_world_model.planning import (RecedingHorizonPlanner, get_preset,
                                             make_rollout)
    planner = RecedingHorizonPlanner(make_rollout(predictor), get_preset("cpu"))
    result = planner.plan(z_obs, state7, z_goal)   # result.action: (7,) tensor
"""

from .cem import CEM, CEMConfig, CEMResult, project_l1_ball
from .energy import GoalEnergy, energy, layer_norm
from .presets import PRESETS, PlannerConfig, get_preset
from .receding import PlanResult, RecedingHorizonPlanner
from .state import apply_action, roll_states
from .state_energy import StateEnergy
from .world_model import CachedRollout, NaiveRollout, WorldModel, make_rollout

__all__ = [
    "CEM",
    "PRESETS",
    "CEMConfig",
    "CEMResult",
    "CachedRollout",
    "GoalEnergy",
    "NaiveRollout",
    "PlanResult",
    "PlannerConfig",
    "RecedingHorizonPlanner",
    "StateEnergy",
    "WorldModel",
    "apply_action",
    "energy",
    "get_preset",
    "layer_norm",
    "make_rollout",
    "project_l1_ball",
    "roll_states",
]
