"""Planner configuration (dataclasses, loadable from YAML dicts) and named presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .cem import CEMConfig


@dataclass
class PlannerConfig:
    """Everything the receding-horizon planner needs besides the models."""

    cem: CEMConfig = field(default_factory=CEMConfig)
    energy_weights: tuple[float, ...] | None = None  # None = last planned frame only
    warm_start: bool = True  # start from the previous plan shifted by one step
    warm_std_scale: float = 0.5  # std of warm-started steps = init std * this
    warm_tail: str = "repeat"  # new last step of a warm start: "repeat" | "zero"
    reset_on_goal_change: bool = True
    # Hold rule: after CEM, compare the plan's predicted energy with doing nothing (the zero
    # action); if the plan is not better by at least this margin, hold still (zero action).
    # Stops the hand wandering around a reached goal on model noise. None = off.
    hold_margin: float | None = None
    # Cost of a gripper change in the hold rule (None = hold_margin). The tiny sim models
    # predict energy spreads of ~0.001-0.003 over gripper actions (`vjepa2 bench gripper`),
    # i.e. noise; a margin keeps the gripper still unless the model predicts a clear gain.
    gripper_margin: float | None = None
    rollout: str = "cached"  # "cached" (KV cache) | "naive" (re-run the whole sequence)
    amp: bool = True  # bf16 autocast (CUDA only)
    compile: bool = False  # torch.compile the predictor (CUDA only)
    chunk_size: int | None = None  # split the S samples into chunks (GPU memory)
    encoder: str = "vit_tiny"  # the model sizes the preset is meant for
    predictor: str = "ac_tiny"

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        self.cem.validate()
        if self.energy_weights is not None and len(self.energy_weights) != self.cem.horizon:
            raise ValueError(
                f"energy_weights has {len(self.energy_weights)} values for "
                f"horizon {self.cem.horizon}"
            )
        if self.warm_tail not in ("repeat", "zero"):
            raise ValueError(f"warm_tail must be 'repeat' or 'zero', got {self.warm_tail!r}")
        if self.rollout not in ("cached", "naive"):
            raise ValueError(f"rollout must be 'cached' or 'naive', got {self.rollout!r}")
        if self.warm_std_scale <= 0:
            raise ValueError("warm_std_scale must be > 0")
        for name in ("hold_margin", "gripper_margin"):
            v = getattr(self, name)
            if v is not None and not v >= 0:
                raise ValueError(f"{name} must be >= 0 or None, got {v}")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ValueError("chunk_size must be >= 1 or None")

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (YAML-safe)."""
        d = dataclasses.asdict(self)
        d["cem"]["search_dims"] = list(self.cem.search_dims)
        if self.energy_weights is not None:
            d["energy_weights"] = list(self.energy_weights)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], base: PlannerConfig | None = None) -> PlannerConfig:
        """Build from a dict (e.g. YAML). Keys: PlannerConfig fields, ``cem: {...}``, CEM
        fields at top level, and ``preset: NAME`` to start from a preset. Unknown -> error."""
        d = dict(d)
        if "preset" in d:
            base = get_preset(d.pop("preset"))
        base = base or PlannerConfig()
        cem_fields = {f.name for f in dataclasses.fields(CEMConfig)}
        top_fields = {f.name for f in dataclasses.fields(cls)} - {"cem"}
        cem_kw = dict(d.pop("cem", None) or {})
        top_kw = {}
        for k, v in d.items():
            if k in top_fields:
                top_kw[k] = v
            elif k in cem_fields:
                cem_kw[k] = v
            else:
                raise ValueError(f"unknown planner config key {k!r}")
        bad = set(cem_kw) - cem_fields
        if bad:
            raise ValueError(f"unknown cem config key(s) {sorted(bad)}")
        if "search_dims" in cem_kw:
            cem_kw["search_dims"] = tuple(int(x) for x in cem_kw["search_dims"])
        if top_kw.get("energy_weights") is not None:
            top_kw["energy_weights"] = tuple(float(x) for x in top_kw["energy_weights"])
        cfg = dataclasses.replace(base, cem=dataclasses.replace(base.cem, **cem_kw), **top_kw)
        cfg.validate()
        return cfg


def _paper() -> PlannerConfig:
    # arXiv 2506.09985: 800 samples, 10 iterations, top-10, horizon 1, L1 ball 0.075;
    # every step's CEM starts afresh (no warm start), as in the paper and the release.
    return PlannerConfig(
        warm_start=False,
        cem=CEMConfig(
            num_samples=800,
            iterations=10,
            top_k=10,
            horizon=1,
            limit="l1",
            l1_radius=0.075,
            gripper_clip=1.0,
            init_std=0.05,
            init_std_gripper=0.5,
        ),
        encoder="vit_giant",
        predictor="ac_vit_giant",
    )


def _reference() -> PlannerConfig:
    # the public release's planner (facebookresearch/vjepa2 notebooks/utils/mpc_utils.py
    # cem(), defaults of notebooks/utils/world_model_wrapper.py): 400 samples, 10
    # iterations, top-10, horizon 2; xyz + gripper sampled (rotation 0), initial std maxnorm
    # (xyz) and 1.0 (gripper), samples clipped per axis to +-0.05 and the gripper to +-0.75;
    # new = (1-m)*elite + m*old with m = 0.25 (xyz mean), 0.95 (xyz std), 0.15 (gripper
    # mean and std); unbiased elite std, noise drawn per rollout step, no std floor; the
    # returned gripper command is 0 where |mean| < 0.25. No warm start across steps.
    return PlannerConfig(
        warm_start=False,
        cem=CEMConfig(
            num_samples=400,
            iterations=10,
            top_k=10,
            horizon=2,
            limit="box",
            search_dims=(0, 1, 2, 6),
            maxnorm=0.05,
            gripper_clip=0.75,
            init_std=0.05,
            init_std_gripper=1.0,
            min_std=0.0,
            momentum_mean=0.25,
            momentum_std=0.95,
            momentum_mean_gripper=0.15,
            momentum_std_gripper=0.15,
            std_unbiased=True,
            step_major_noise=True,
            gripper_deadband=0.25,
        ),
        encoder="vit_giant",
        predictor="ac_vit_giant",
    )


def _cpu() -> PlannerConfig:
    # tiny models (vit_tiny + ac_tiny) on 2 shared CPU cores. 32 x 4 = 128 one-frame
    # rollouts = 15.2 GFLOP per step: 4 Hz needs ~62 GFLOP/s achieved (the 2 cores give
    # ~125 peak-ish). Fewer samples/iterations lose precision fast (bench --sweep):
    # median one-step action error 4.8 mm here vs 6.7 mm at 32 x 3, 2.8 mm at 48 x 4.
    # No warm start: in the sim cell the shifted previous action kept the hand moving past
    # the goal (DirectSim reach, shipped weights, 10 trials x 16 steps: 20% -> 80% of
    # trials under 4 cm without it). Override num_samples/iterations in YAML.
    return PlannerConfig(
        warm_start=False,
        cem=CEMConfig(
            num_samples=32,
            iterations=4,
            top_k=4,
            horizon=1,
            limit="l1",
            l1_radius=0.075,
            gripper_clip=1.0,
            init_std=0.05,
            init_std_gripper=0.5,
            momentum_mean=0.1,
            momentum_std=0.1,
            include_mean=True,
        ),
        encoder="vit_tiny",
        predictor="ac_tiny",
    )


PRESETS = {"paper": _paper, "reference": _reference, "cpu": _cpu}


def get_preset(name: str, **overrides: Any) -> PlannerConfig:
    """A fresh copy of preset ``name`` with optional field overrides (as in from_dict)."""
    if name not in PRESETS:
        raise ValueError(f"unknown planner preset {name!r}; known: {sorted(PRESETS)}")
    cfg = PRESETS[name]()
    return PlannerConfig.from_dict(overrides, base=cfg) if overrides else cfg
