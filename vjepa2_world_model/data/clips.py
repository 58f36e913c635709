"""Clip datasets over episodes: windows of consecutive frames + states + actions."""

from __future__ import annotations

import numpy as np
import torch

from .actions import actions_from_states


def split_names(names: list[str], val_frac: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """Deterministic episode-level train/val split (held-out episodes).

    Each name goes to val by a hash of (seed, name), so the split of an episode never
    changes when more episodes are added. At least one val episode when val_frac > 0.
    """
    import hashlib

    if not 0 <= val_frac < 1:
        raise ValueError(f"val_frac must be in [0, 1), got {val_frac}")
    names = sorted(names)

    def u(n: str) -> float:
        return int(hashlib.sha256(f"{seed}:{n}".encode()).hexdigest()[:8], 16) / 16**8

    val = [n for n in names if u(n) < val_frac]
    if val_frac > 0 and not val and len(names) > 1:
        val = [min(names, key=u)]
    train = [n for n in names if n not in set(val)]
    return train, val


class FeatureClips:
    """Clips of ``clip_len`` frames from cached features: (z, actions, states)."""

    def __init__(
        self,
        episodes: dict[str, tuple[np.ndarray, np.ndarray]],
        clip_len: int,
        stride: int = 1,
        gripper_repeat: int = 1,
    ) -> None:
        """``gripper_repeat`` > 1 lists clips in which the hand opens or closes
        (|dgripper| > 0.5) that many times, so the rare gripper events weigh more."""
        if clip_len < 2:
            raise ValueError("clip_len must be >= 2")
        self.names = sorted(episodes)
        self.feats = [torch.from_numpy(np.ascontiguousarray(episodes[n][0])) for n in self.names]
        self.states = [
            torch.from_numpy(np.asarray(episodes[n][1], dtype=np.float32)) for n in self.names
        ]
        self.actions = [
            torch.from_numpy(
                np.concatenate([actions_from_states(episodes[n][1]), np.zeros((1, 7))]).astype(
                    np.float32
                )
            )
            for n in self.names
        ]
        self.clip_len = clip_len
        if gripper_repeat < 1:
            raise ValueError("gripper_repeat must be >= 1")
        self.index = []
        for e, f in enumerate(self.feats):
            grip = self.actions[e][:, 6].abs() > 0.5
            for s in range(0, len(f) - clip_len + 1, stride):
                event = bool(grip[s : s + clip_len - 1].any())
                self.index += [(e, s)] * (gripper_repeat if event else 1)
        if not self.index:
            raise ValueError(f"no episode has {clip_len} frames")

    def __len__(self) -> int:
        return len(self.index)

    def get(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Batch of clips: z (B,T,N,D) float32, actions (B,T,7), states (B,T,7).

        actions[:, t] moves frame t to t+1 (the last one is padding, never a target).
        """
        zs, acts, sts = [], [], []
        for i in idx:
            e, s = self.index[int(i)]
            sl = slice(s, s + self.clip_len)
            zs.append(self.feats[e][sl])
            acts.append(self.actions[e][sl])
            sts.append(self.states[e][sl])
        return torch.stack(zs).float(), torch.stack(acts), torch.stack(sts)
