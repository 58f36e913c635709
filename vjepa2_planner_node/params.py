"""Parameter validation shared by the nodes and `vjepa2 bringup` (no ROS imports).

Every check raises ``ParamError`` (a ValueError) whose message starts with the
parameter name, so a bad bringup fails at startup saying which parameter is wrong.
"""

from __future__ import annotations

import re
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
