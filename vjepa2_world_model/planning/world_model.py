"""The world-model interface the planner uses, and adapters over the AC predictor.

A world model maps the current frame's features, the current 7-D state and a batch of
action sequences to predicted features of the next H frames:

    rollout(z0 (N, E), s0 (7,), actions (S, H, 7)) -> (S, H, N, E)

Output h predicts frame h + 1 (after actions[:, h]). States of later steps are rolled
forward exactly (``state.roll_states``). Predictions are raw predictor outputs; the energy
layer-norms them, and the rollout feeds layer_norm(prediction) back as the next input.
"""

from __future__ import annotations

import contextlib
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from .energy import layer_norm
from .state import roll_states


@runtime_checkable
class WorldModel(Protocol):
    """What the planner needs from a world model."""

    def rollout(self, z0: Tensor, s0: Tensor, actions: Tensor) -> Tensor:
        """z0 (N, E), s0 (7,), actions (S, H, 7) -> predicted features (S, H, N, E)."""
        ...


def _check(z0: Tensor, s0: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
    if z0.dim() == 3 and z0.shape[0] == 1:
        z0 = z0[0]
    if z0.dim() != 2:
        raise ValueError(f"z0 must be (N, E) or (1, N, E), got {tuple(z0.shape)}")
    s0 = s0.reshape(-1)
    if s0.shape != (7,):
        raise ValueError(f"s0 must have 7 values, got {tuple(s0.shape)}")
    if actions.dim() != 3 or actions.shape[-1] != 7:
        raise ValueError(f"actions must be (S, H, 7), got {tuple(actions.shape)}")
    return z0, s0


class _PredictorRollout:
    """Shared plumbing: device/dtype, bf16 autocast on CUDA, optional torch.compile."""

    def __init__(
        self,
        predictor: nn.Module,
        amp: bool = True,
        compile: bool = False,
        chunk_size: int | None = None,
    ) -> None:
        self.predictor = predictor.eval()
        p = next(predictor.parameters())
        self.device, self.dtype = p.device, p.dtype
        self.amp = amp and self.device.type == "cuda"
        self.chunk_size = chunk_size
        self._call = predictor
        self._step = getattr(predictor, "step", None)
        if compile and self.device.type == "cuda":  # CPU compile is not worth it / untested
            self._call = torch.compile(predictor, dynamic=True)
            if self._step is not None:
                self._step = torch.compile(predictor.step, dynamic=True)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @torch.no_grad()
    def rollout(self, z0: Tensor, s0: Tensor, actions: Tensor) -> Tensor:
        z0, s0 = _check(z0, s0, actions)
        z0 = layer_norm(z0.to(self.device, self.dtype))
        # roll states in float32 (bf16 cannot resolve millimetres at 0.5 m), then cast
        actions = actions.to(self.device, torch.float32)
        states = roll_states(s0.to(self.device, torch.float32), actions).to(self.dtype)
        actions = actions.to(self.dtype)
        S = actions.shape[0]
        chunk = self.chunk_size or S
        outs = []
        with self._autocast():
            for i in range(0, S, chunk):
                outs.append(self._rollout(z0, actions[i : i + chunk], states[i : i + chunk]))
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    def _rollout(self, z0: Tensor, actions: Tensor, states: Tensor) -> Tensor:
        raise NotImplementedError


class CachedRollout(_PredictorRollout):
    """Rollout with the predictor's KV cache: step h costs one frame (S*(N+2) tokens).

    Frame 0 runs for all S samples in one call (their actions differ, so frame 0 differs
    per sample under block-causal attention); each later step appends one frame.
    """

    def _rollout(self, z0: Tensor, actions: Tensor, states: Tensor) -> Tensor:
        S, H = actions.shape[:2]
        cache = self.predictor.new_cache()
        z = z0.expand(S, *z0.shape)
        outs = []
        for h in range(H):
            zhat = self._step(z, actions[:, h], states[:, h], cache)
            outs.append(zhat)
            z = layer_norm(zhat)
        return torch.stack(outs, 1)


class NaiveRollout(_PredictorRollout):
    """The reference release's rollout: step h re-runs the whole teacher-forcing sequence
    of h + 1 frames (no cache), so H steps cost H(H+1)/2 frames. For benches and tests."""

    def _rollout(self, z0: Tensor, actions: Tensor, states: Tensor) -> Tensor:
        S, H = actions.shape[:2]
        zs = [z0.expand(S, *z0.shape)]
        outs = []
        for h in range(H):
            out = self._call(torch.stack(zs, 1), actions[:, : h + 1], states[:, : h + 1])
            zhat = out[:, -1]
            outs.append(zhat)
            zs.append(layer_norm(zhat))
        return torch.stack(outs, 1)


def make_rollout(
    predictor: nn.Module,
    mode: str = "cached",
    amp: bool = True,
    compile: bool = False,
    chunk_size: int | None = None,
) -> WorldModel:
    """World model over an ACPredictor: ``mode`` "cached" (KV cache) or "naive"."""
    if mode == "cached":
        return CachedRollout(predictor, amp=amp, compile=compile, chunk_size=chunk_size)
    if mode == "naive":
        return NaiveRollout(predictor, amp=amp, compile=compile, chunk_size=chunk_size)
    raise ValueError(f"rollout mode must be 'cached' or 'naive', got {mode!r}")
