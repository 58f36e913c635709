"""3D rotary position embedding (RoPE) as used by V-JEPA 2.

Head dim split: each of the axes (time, height, width) gets ``d = 2 * ((head_dim // 3) // 2)``
dims, in that order; the ``head_dim - 3 d`` left-over dims are not rotated
(head_dim 64: t = [0, 20), h = [20, 40), w = [40, 60), [60, 64) untouched).
Per axis the frequencies are ``w_i = 1 / 10000 ** (i / (d / 2))``, i = 0 .. d/2 - 1, and the
angle of a token at integer position ``p`` is ``p * w_i``.

Two conventions (``convention`` argument / config value ``rope``):

- ``"released"`` (the released weights; needed to load them): the per-axis sin/cos tables are
  *tiled*, ``[w_0 .. w_{d/2-1}, w_0 .. w_{d/2-1}]``, but applied to *adjacent* pairs
  ``(x_2k, x_2k+1)`` with ``rot(x) = (-x_2k+1, x_2k)``:
  ``y = x * cos(angle) + rot(x) * sin(angle)``. The two members of a pair then see different
  frequencies, so the map is not an exact rotation and scores are not exactly a function of
  relative position (tests/world_model/test_rope.py shows both facts).
- ``"standard"``: the same adjacent-pair rotation with each pair sharing one frequency
  (``[w_0, w_0, w_1, w_1, ...]``): a true rotation, scores depend only on relative positions.

Temporal-only RoPE (AC predictor action/state tokens) is the 3D RoPE at position ``(t, 0, 0)``:
angle 0 gives cos 1 / sin 0, so only the time-axis dims are rotated.
"""

from __future__ import annotations

import torch
from torch import Tensor

CONVENTIONS = ("released", "standard")


def axis_dim(head_dim: int) -> int:
    """Number of head dims rotated per axis: ``2 * ((head_dim // 3) // 2)``."""
    return 2 * ((head_dim // 3) // 2)


def axis_frequencies(head_dim: int, convention: str = "released") -> Tensor:
    """Per-dim frequencies (axis_dim,) of one axis in the given convention (float64)."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown RoPE convention {convention!r}; known: {CONVENTIONS}")
    d = axis_dim(head_dim)
    half = d // 2
    w = 1.0 / 10000.0 ** (torch.arange(half, dtype=torch.float64) / half)
    return w.repeat(2) if convention == "released" else w.repeat_interleave(2)


def grid_positions(t: int, h: int, w: int, device: torch.device | str | None = None) -> Tensor:
    """(t*h*w, 3) long (time, row, col) positions in token order (time-major, then rows)."""
    tt, hh, ww = torch.meshgrid(
        torch.arange(t, device=device),
        torch.arange(h, device=device),
        torch.arange(w, device=device),
        indexing="ij",
    )
    return torch.stack([tt, hh, ww], -1).reshape(-1, 3)


def index_to_positions(idx: Tensor, h: int, w: int) -> Tensor:
    """Flat token indices (...,) of a (T, h, w) grid -> (..., 3) (time, row, col)."""
    return torch.stack([idx // (h * w), (idx // w) % h, idx % w], -1)


def temporal_positions(t: Tensor) -> Tensor:
    """Frame indices (...,) -> (..., 3) positions (t, 0, 0): temporal-only RoPE."""
    z = torch.zeros_like(t)
    return torch.stack([t, z, z], -1)


def rope_tables(
    pos: Tensor, head_dim: int, convention: str = "released", dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Tensor]:
    """cos, sin tables (..., head_dim) for positions ``pos`` (..., 3) = (t, h, w).

    Un-rotated left-over dims get cos 1, sin 0. Angles are computed in float64.
    """
    if pos.shape[-1] != 3:
        raise ValueError(f"RoPE positions must end in 3 (t, h, w), got {tuple(pos.shape)}")
    freqs = axis_frequencies(head_dim, convention).to(pos.device)
    angles = (pos.to(torch.float64)[..., :, None] * freqs).flatten(-2)  # (..., 3d)
    rest = head_dim - angles.shape[-1]
    if rest:
        angles = torch.cat([angles, angles.new_zeros(*angles.shape[:-1], rest)], -1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def rotate_pairs(x: Tensor) -> Tensor:
    """rot(x) on adjacent pairs: (x_2k, x_2k+1) -> (-x_2k+1, x_2k)."""
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    return torch.stack([-x2, x1], -1).flatten(-2)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """``x * cos + rot(x) * sin``; cos/sin broadcast against x (..., head_dim)."""
    return x * cos + rotate_pairs(x) * sin
