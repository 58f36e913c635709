"""3D multi-block masks for V-JEPA pretraining.

A generator places ``num_blocks`` rectangular blocks on the (H, W) token grid; every block
spans all T time steps. Block size: ``keep = int(H * W * scale)`` tokens per time step,
aspect ratio ``ar ~ U(aspect_ratio)``, ``h = round(sqrt(keep * ar))``,
``w = round(sqrt(keep / ar))`` (clamped to [1, H-1] x [1, W-1] so a block never covers a full
side), top-left uniform. The union of the blocks is the *target*, its complement the
*context* (never empty: a draw that covers the whole grid is redrawn).

The facts' setup is two generators per clip: 8 blocks of scale 0.15 and 2 blocks of scale 0.7
(:data:`DEFAULT_GENERATORS`). Indices are flat token indices of the (T, H, W) grid in the
encoder's token order (time-major, then rows), sorted ascending: usable as the encoder's
``keep_idx`` and the mask predictor's ``ctx_idx`` / ``tgt_idx``. Randomness comes only from
the given ``torch.Generator`` or ``numpy.random.Generator`` (deterministic per seed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

Rng = torch.Generator | np.random.Generator | None


def _uniform(rng: Rng, lo: float = 0.0, hi: float = 1.0) -> float:
    if isinstance(rng, torch.Generator):
        u = float(torch.rand((), generator=rng))
    elif isinstance(rng, np.random.Generator):
        u = float(rng.random())
    elif rng is None:
        u = float(torch.rand(()))
    else:
        raise ValueError(f"rng must be a torch.Generator or numpy Generator, got {type(rng)}")
    return lo + u * (hi - lo)


def _randint(rng: Rng, n: int) -> int:
    """Uniform integer in [0, n)."""
    return min(int(_uniform(rng) * n), n - 1)


@dataclass
class MultiBlockMaskGenerator:
    grid: tuple[int, int, int]  # (T, H, W) token grid of a clip
    num_blocks: int = 8
    scale: float = 0.15  # spatial fraction per block
    aspect_ratio: tuple[float, float] = (0.75, 1.5)
    max_tries: int = 50

    def __post_init__(self) -> None:
        self.grid = tuple(int(g) for g in self.grid)
        if len(self.grid) != 3 or min(self.grid) < 1:
            raise ValueError(f"grid must be (T, H, W) positive, got {self.grid}")
        if not 0.0 < self.scale <= 1.0:
            raise ValueError(f"scale must be in (0, 1], got {self.scale}")
        lo, hi = self.aspect_ratio
        if not 0 < lo <= hi:
            raise ValueError(f"aspect_ratio must be 0 < lo <= hi, got {self.aspect_ratio}")
        if self.num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {self.num_blocks}")

    def block_size(self, rng: Rng) -> tuple[int, int]:
        """(h, w) of one block."""
        _, H, W = self.grid
        keep = max(1, int(H * W * self.scale))
        ar = _uniform(rng, *self.aspect_ratio)
        h = round(math.sqrt(keep * ar))
        w = round(math.sqrt(keep / ar))
        return min(max(h, 1), max(H - 1, 1)), min(max(w, 1), max(W - 1, 1))

    def spatial_mask(self, rng: Rng) -> Tensor:
        """(H, W) bool, True = target (union of the blocks); never all True."""
        _, H, W = self.grid
        for _ in range(self.max_tries):
            m = torch.zeros(H, W, dtype=torch.bool)
            for _ in range(self.num_blocks):
                h, w = self.block_size(rng)
                top, left = _randint(rng, H - h + 1), _randint(rng, W - w + 1)
                m[top : top + h, left : left + w] = True
            if not m.all():
                return m
        m[_randint(rng, H), _randint(rng, W)] = False  # keep one context token
        return m

    def __call__(self, rng: Rng = None) -> tuple[Tensor, Tensor]:
        """(context_idx, target_idx): sorted 1-D long tensors of flat token indices."""
        T = self.grid[0]
        full = self.spatial_mask(rng).flatten().repeat(T)  # blocks span all time
        return full.logical_not().nonzero()[:, 0], full.nonzero()[:, 0]


DEFAULT_GENERATORS: tuple[tuple[int, float], ...] = ((8, 0.15), (2, 0.7))


def make_generators(
    grid: tuple[int, int, int],
    spec: tuple[tuple[int, float], ...] = DEFAULT_GENERATORS,
    aspect_ratio: tuple[float, float] = (0.75, 1.5),
) -> list[MultiBlockMaskGenerator]:
    """The facts' two generators (8 x 0.15, 2 x 0.7) for a (T, H, W) grid."""
    return [MultiBlockMaskGenerator(grid, n, s, aspect_ratio) for n, s in spec]


def sample_batch(
    gen: MultiBlockMaskGenerator, batch: int, rng: Rng = None
) -> tuple[Tensor, Tensor]:
    """Masks for a batch, trimmed to equal lengths (random subset, kept sorted):
    (context (B, K), target (B, M)) long."""
    pairs = [gen(rng) for _ in range(batch)]
    k = min(len(c) for c, _ in pairs)
    m = min(len(t) for _, t in pairs)

    def trim(x: Tensor, n: int) -> Tensor:
        if len(x) == n:
            return x
        keys = torch.tensor([_uniform(rng) for _ in range(len(x))])
        return x[keys.argsort()[:n].sort().values]

    return (
        torch.stack([trim(c, k) for c, _ in pairs]),
        torch.stack([trim(t, m) for _, t in pairs]),
    )
