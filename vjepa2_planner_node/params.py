"""Parameter validation shared by the nodes and `vjepa2 bringup` (no ROS imports).

Every check raises ``ParamError`` (a ValueError) whose message starts with the
parameter name, so a bad bringup fails at startup saying which parameter is wrong.
The planner node's parameters become the planning library's objects here too
(``CEMSettings.planner_config``, ``load_encoder_and_predictor``, ``load_readout``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TOPIC_RE = re.compile(r"^~?/?[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")
_GOAL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ParamError(ValueError):
    """Invalid node parameter; ``param`` names it."""

    def __init__(self, param: str, problem: str) -> None:
        super().__init__(f"parameter '{param}': {problem}")
        self.param = param


def check_device(value: str, param: str = "device") -> str:
    """'auto', 'cpu', 'cuda' or 'cuda:N'; returns the device string to use."""
    value = str(value).strip()
    if value in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", value):
        return value
    raise ParamError(param, f"unknown device {value!r} (use auto, cpu, cuda or cuda:N)")


def resolve_device(value: str, param: str = "device") -> str:
    """Validate and resolve 'auto' to cuda if available else cpu; cuda without GPU fails."""
    import torch

    value = check_device(value, param)
    if value == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if value.startswith("cuda") and not torch.cuda.is_available():
        raise ParamError(param, f"{value!r} requested but torch sees no CUDA device")
    return value


def check_checkpoint(value: str, param: str = "checkpoint") -> Path:
    """A checkpoint file or directory that exists."""
    if not str(value).strip():
        raise ParamError(param, "is empty (give a checkpoint directory or .safetensors file)")
    path = Path(value).expanduser()
    if not path.exists():
        raise ParamError(param, f"checkpoint {str(path)!r} does not exist")
    return path


def check_topic(value: str, param: str) -> str:
    """A syntactically valid ROS topic name."""
    value = str(value)
    if not _TOPIC_RE.match(value):
        raise ParamError(param, f"{value!r} is not a valid ROS topic name")
    return value


def check_positive(value: Any, param: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParamError(param, f"{value!r} is not a number") from None
    if not v > 0:
        raise ParamError(param, f"must be > 0, got {v}")
    return v


def check_goal_name(value: str, param: str = "name") -> str:
    """Goal names become file names: letters, digits, '_', '-', '.', at most 64 chars."""
    value = str(value)
    if not _GOAL_NAME_RE.match(value) or value.endswith(".png"):
        raise ParamError(
            param, f"invalid goal name {value!r} (letters, digits, _ - . ; max 64; no .png)"
        )
    return value


# -- the planner node's parameters -> planning library objects --------------------------
def load_encoder_and_predictor(checkpoint: str | Path, device: str) -> tuple[Any, Any]:
    """``checkpoints.load_pair`` for a node: errors become a ParamError naming ``checkpoint``."""
    from vjepa2_world_model.checkpoints import load_pair

    path = check_checkpoint(str(checkpoint))
    try:
        return load_pair(path, device)
    except ValueError as e:
        raise ParamError("checkpoint", str(e)) from None


def load_readout(path: str, device: Any = "cpu") -> Any:
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


@dataclass
class CEMSettings:
    """Preset name + the planner node's overrides; every default is the preset's
    (PlannerConfig).

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

    def planner_config(self):
        """The planning library's PlannerConfig; ParamError naming the bad parameter."""
        from vjepa2_world_model.planning import get_preset

        overrides: dict[str, object] = {
            k: int(v)
            for k, v in (
                ("horizon", self.horizon),
                ("num_samples", self.samples),
                ("iterations", self.iterations),
                ("top_k", self.elites),
            )
            if int(v) > 0
        }
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

    def state_energy(self, readout: Any = None):
        """The StateEnergy term for ``state_alpha`` > 0 (None at 0, the paper's energy);
        ParamError naming ``readout`` if it is needed but missing."""
        if self.state_alpha <= 0:
            return None
        if readout is None:
            raise ParamError("readout", "state_alpha > 0 needs a readout head")
        from vjepa2_world_model.planning import StateEnergy

        return StateEnergy(readout, self.state_alpha)
