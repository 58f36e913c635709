"""The world model as the nodes use it: latest observation, encodes, goal cache, energies.

Plain logic (no ROS), the in-process facade of the world model: the world_model node
feeds its observation buffer and active goal, the planner node plans on it; both live in
the planner_node process and share one ``WorldModelCore`` (one copy of the weights).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vjepa2_planner_node.params import ParamError, check_checkpoint


def load_encoder_and_predictor(checkpoint: str | Path, device: str) -> tuple[torch.nn.Module, ...]:
    """``checkpoints.load_pair`` for a node: errors become a ParamError naming ``checkpoint``."""
    from vjepa2_world_model.checkpoints import load_pair

    path = check_checkpoint(str(checkpoint))
    try:
        return load_pair(path, device)
    except ValueError as e:
        raise ParamError("checkpoint", str(e)) from None


@dataclass
class Frame:
    """One camera frame as received."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    seq: int
    stamp: float  # header stamp, s
    received: float  # time.monotonic() at receipt
    stamp_ns: int = 0  # header stamp, integer ns (exact, for matching recorded frames)


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
    frame: Frame | None = None
    state: np.ndarray | None = None
    state_received: float = -float("inf")
    faults: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seq: int = 0

    def put_frame(self, image: np.ndarray, stamp: float = 0.0, stamp_ns: int = 0) -> Frame:
        with self._lock:
            self._seq += 1
            self.frame = Frame(image, self._seq, stamp, self.clock(), stamp_ns)
            return self.frame

    def put_state(self, state: np.ndarray) -> None:
        state = np.asarray(state, dtype=np.float64).reshape(-1)
        if state.shape != (7,) or not np.all(np.isfinite(state)):
            raise ValueError(f"robot state must be 7 finite values, got {state.tolist()}")
        with self._lock:
            self.state = state
            self.state_received = self.clock()

    def report_fault(self, message: str) -> None:
        with self._lock:
            self.faults.append(message)
            del self.faults[:-20]

    def latest(self) -> tuple[Frame | None, np.ndarray | None]:
        with self._lock:
            return self.frame, None if self.state is None else self.state.copy()

    def health(self) -> InputHealth:
        now = self.clock()
        with self._lock:
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


MAX_GOALS = 32  # encoded goals kept (LRU)


class WorldModelCore:
    """Encoder + AC predictor with an encode cache for the latest frame and goal images."""

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
        self._rollouts: dict[tuple, object] = {}
        self.rollout = self.rollout_for()
        self.encode_ms = float("nan")
        self.predict_ms = float("nan")
        self.checkpoint: str | None = None  # where the weights came from (if a path)

    @classmethod
    def from_checkpoint(
        cls, checkpoint: str | Path, device: str = "cpu", stale_after: float = 1.0
    ) -> WorldModelCore:
        encoder, predictor = load_encoder_and_predictor(checkpoint, device)
        core = cls(encoder, predictor, device, stale_after)
        core.checkpoint = str(checkpoint)
        return core

    def rollout_for(self, config=None):  # noqa: ANN001, ANN201
        """The predictor rollout a PlannerConfig asks for (rollout mode, amp, compile,
        chunk size; defaults without one), built once per distinct setting."""
        from vjepa2_world_model.planning import PlannerConfig, make_rollout

        cfg = config or PlannerConfig()
        key = (cfg.rollout, cfg.amp, cfg.compile, cfg.chunk_size)
        if key not in self._rollouts:
            self._rollouts[key] = make_rollout(self.predictor, cfg.rollout, amp=cfg.amp,
                                               compile=cfg.compile, chunk_size=cfg.chunk_size)
        return self._rollouts[key]

    # -- encoding -----------------------------------------------------------------
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

    def encode_frame(self, frame: Frame) -> torch.Tensor:
        """Encode a buffered frame once (cached by its sequence number)."""
        with self._lock:
            if self._frame_cache is not None and self._frame_cache[0] == frame.seq:
                return self._frame_cache[1]
            z = self.encode(frame.image)
            self._frame_cache = (frame.seq, z)
            return z

    def set_goal(self, name: str, image_rgb: np.ndarray) -> torch.Tensor:
        """Encode a goal image and cache it under ``name`` (re-encodes if given again).

        The cache keeps the ``MAX_GOALS`` most recently used goals (``__active__`` is
        never evicted); library goals are re-encoded from disk when needed again."""
        z = self.encode(image_rgb)
        with self._lock:
            self.goals[name] = z
            self.goals.move_to_end(name)
            for old in [k for k in self.goals if k != "__active__"][:-MAX_GOALS]:
                del self.goals[old]
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
        raise KeyError(f"goal {name!r} is not encoded (known: {known[:10]}"
                       f"{' ...' if len(known) > 10 else ''})")

    # -- energies -----------------------------------------------------------------
    @staticmethod
    def observed_energy(z_obs: torch.Tensor, z_goal: torch.Tensor) -> float:
        """Mean L1 between layer-normed observation and goal features."""
        return float((z_obs - z_goal).abs().mean())

    @torch.no_grad()
    def energies(
        self, z_obs: torch.Tensor, state: np.ndarray, actions: torch.Tensor, z_goal: torch.Tensor
    ) -> torch.Tensor:
        """Energies (S,) of action sequences (S, H, 7) rolled out from (z_obs, state).

        One batched, KV-cached predictor rollout for all S samples (planning library);
        energy = mean L1 between the layer-normed last prediction and the goal features.
        """
        from vjepa2_world_model.planning import energy

        if actions.ndim != 3 or actions.shape[-1] != 7:
            raise ValueError(f"actions must be (S, H, 7), got {tuple(actions.shape)}")
        with self._lock:
            t0 = time.perf_counter()
            s0 = torch.as_tensor(np.asarray(state), dtype=torch.float32)
            pred = self.rollout.rollout(z_obs, s0, actions.float())
            e = energy(pred, z_goal)
            self.predict_ms = (time.perf_counter() - t0) * 1e3
        return e
