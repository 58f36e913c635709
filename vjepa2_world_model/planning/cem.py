"""Cross-entropy method over action sequences (H, 7), with step limits and NaN safety.

Action dims: 0-2 dxyz (m), 3-5 rotation delta (rad, euler_xyz(R_{t+1} R_t^T)), 6 dgripper.
Dims not in ``search_dims`` stay at 0 (the reference planner searches xyz + gripper).
Every sample, and the returned plan, satisfies the limits:
- ``limit="box"``: each translation axis in [-maxnorm, maxnorm] (reference release);
- ``limit="l1"``: the translation of each step in the L1 ball of radius ``l1_radius`` (paper);
- rotation axes (when searched) in [-rot_maxnorm, rot_maxnorm];
- gripper delta in [-gripper_clip, gripper_clip] (on the steps forced closed by
  ``close_gripper_from_step`` it is exactly 1.0 in every sample, as in the release).

Update of the sampling distribution after each iteration, per dim:
``new = (1 - m) * elite_stat + m * old``, with ``m`` = ``momentum_mean`` /
``momentum_std`` for the translation (and rotation) dims and ``momentum_mean_gripper`` /
``momentum_std_gripper`` for the gripper (None = the same as the others). The released
planner (notebooks/utils/mpc_utils.py) uses 0.25 / 0.95 and 0.15 / 0.15, the unbiased elite
std, noise drawn one rollout step at a time, and zeroes the returned gripper command where
its magnitude is below 0.25 (``gripper_deadband``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

TRANSLATION = (0, 1, 2)
ROTATION = (3, 4, 5)
GRIPPER = 6


@dataclass
class CEMConfig:
    """CEM hyper-parameters (one planning step = ``iterations`` batched model calls)."""

    num_samples: int = 400
    iterations: int = 10
    top_k: int = 10
    horizon: int = 2
    search_dims: tuple[int, ...] = (0, 1, 2, 6)
    limit: str = "box"  # "box" | "l1"
    maxnorm: float = 0.05
    l1_radius: float = 0.075
    rot_maxnorm: float = 0.1
    gripper_clip: float = 0.75
    init_std: float = 0.05  # translation / rotation dims
    init_std_gripper: float = 0.25
    min_std: float = 1e-4
    # new = momentum * old + (1 - momentum) * elite statistic (0 = plain CEM)
    momentum_mean: float = 0.0
    momentum_std: float = 0.0
    momentum_mean_gripper: float | None = None  # gripper's own momenta (None = as above)
    momentum_std_gripper: float | None = None
    std_unbiased: bool = False  # elite std with Bessel's correction (torch.std default)
    step_major_noise: bool = False  # draw noise (S, D) per rollout step, step 0 first
    gripper_deadband: float = 0.0  # returned gripper command -> 0 where |mean| < this
    close_gripper_from_step: int | None = None  # gripper forced to +1 from this step on
    stop_std: float = 0.0  # stop early once every searched std is below this (0 = never)
    include_mean: bool = False  # evaluate the current mean as sample 0 of every iteration
    seed: int = 0

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        if self.num_samples < 1 or self.iterations < 1 or self.horizon < 1:
            raise ValueError("num_samples, iterations and horizon must be >= 1")
        if not 1 <= self.top_k <= self.num_samples:
            raise ValueError(f"top_k must be in [1, num_samples], got {self.top_k}")
        if self.limit not in ("box", "l1"):
            raise ValueError(f"limit must be 'box' or 'l1', got {self.limit!r}")
        if not self.search_dims or any(d not in range(7) for d in self.search_dims):
            raise ValueError(f"search_dims must be a non-empty subset of 0..6: {self.search_dims}")
        if len(set(self.search_dims)) != len(self.search_dims):
            raise ValueError(f"search_dims has duplicates: {self.search_dims}")
        for name in (
            "maxnorm",
            "l1_radius",
            "rot_maxnorm",
            "gripper_clip",
            "init_std",
            "init_std_gripper",
            "min_std",
        ):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0")
        for name in (
            "momentum_mean",
            "momentum_std",
            "momentum_mean_gripper",
            "momentum_std_gripper",
        ):
            v = getattr(self, name)
            if v is not None and not 0 <= v < 1:
                raise ValueError(f"{name} must be in [0, 1)")
        if not self.gripper_deadband >= 0:
            raise ValueError("gripper_deadband must be >= 0")
        k = self.close_gripper_from_step
        if k is not None and (k < 0 or GRIPPER not in self.search_dims):
            raise ValueError(
                "close_gripper_from_step must be >= 0 and needs the gripper "
                f"(dim {GRIPPER}) in search_dims"
            )


@dataclass
class CEMResult:
    """Outcome of one CEM optimisation. ``actions`` is always finite and within limits."""

    actions: Tensor  # (H, 7) the plan (final mean, projected); zeros if not ok
    mean: Tensor  # (H, 7) final sampling mean (for warm starts)
    std: Tensor  # (H, 7) final sampling std (0 on unsearched dims)
    energy: float  # mean energy of the final elites (nan if not ok)
    best_energy: float  # lowest energy seen in any iteration (nan if none)
    best_actions: Tensor  # (H, 7) the sample that had best_energy
    iterations: int  # iterations run (early stop may cut it)
    ok: bool = True
    reason: str = ""
    num_bad: int = 0  # non-finite energies discarded, all iterations
    history: list[float] = field(default_factory=list)  # best energy per iteration


def project_l1_ball(x: Tensor, radius: float) -> Tensor:
    """Euclidean projection of each row of x (..., D) onto {|x|_1 <= radius} (Duchi 2008)."""
    if radius <= 0:
        return torch.zeros_like(x)
    a = x.abs()
    inside = a.sum(-1, keepdim=True) <= radius
    u, _ = torch.sort(a, dim=-1, descending=True)
    css = u.cumsum(-1) - radius
    k = torch.arange(1, x.shape[-1] + 1, device=x.device, dtype=x.dtype)
    cond = u - css / k > 0
    rho = cond.to(torch.int64).cumsum(-1).argmax(-1, keepdim=True)  # last True index
    theta = (css.gather(-1, rho) / (rho + 1).to(x.dtype)).clamp_min(0)
    proj = torch.sign(x) * (a - theta).clamp_min(0)
    return torch.where(inside, x, proj)


class CEM:
    """CEM optimiser; ``optimize(energy_fn)`` calls ``energy_fn`` once per iteration with all
    samples (S, H, 7) and expects energies (S,) (lower is better; NaN/inf = bad sample)."""

    def __init__(self, config: CEMConfig, device: torch.device | str = "cpu") -> None:
        config.validate()
        self.config = config
        self.device = torch.device(device)
        c = config
        self.dims = torch.tensor(sorted(c.search_dims), device=self.device)
        init = torch.zeros(7)
        for d in c.search_dims:
            init[d] = c.init_std_gripper if d == GRIPPER else c.init_std
        self.init_std_row = init.to(self.device)  # (7,)
        self.searched = torch.zeros(7, dtype=torch.bool)
        self.searched[list(c.search_dims)] = True
        self.searched = self.searched.to(self.device)

        def momenta(m: float, m_grip: float | None) -> Tensor:
            v = torch.full((7,), float(m))
            v[GRIPPER] = float(m if m_grip is None else m_grip)
            return v.to(self.device)

        self.m_mean = momenta(c.momentum_mean, c.momentum_mean_gripper)
        self.m_std = momenta(c.momentum_std, c.momentum_std_gripper)

    def _forced(self, h: int) -> Tensor:
        """(H,) bool: the rollout steps whose gripper is forced closed."""
        k = self.config.close_gripper_from_step
        steps = torch.arange(h, device=self.device)
        return steps >= (h if k is None else k)

    def _gripper_bound(self, actions: Tensor) -> Tensor | float:
        """Gripper limit, per step when some are forced closed (+1 there)."""
        c = self.config
        if c.close_gripper_from_step is None or actions.ndim < 2:
            return c.gripper_clip
        forced = self._forced(actions.shape[-2])
        return torch.where(forced, max(c.gripper_clip, 1.0), c.gripper_clip)

    # ---- limits -----------------------------------------------------------------------
    def project(self, actions: Tensor) -> Tensor:
        """Force actions (..., 7) into the limits; unsearched dims -> 0; NaN -> 0."""
        c = self.config
        a = torch.nan_to_num(actions, nan=0.0, posinf=0.0, neginf=0.0)
        a = torch.where(self.searched, a, torch.zeros_like(a))
        t = a[..., :3]
        t = t.clamp(-c.maxnorm, c.maxnorm) if c.limit == "box" else project_l1_ball(t, c.l1_radius)
        r = a[..., 3:6].clamp(-c.rot_maxnorm, c.rot_maxnorm)
        bound = self._gripper_bound(a)
        if isinstance(bound, Tensor):
            g = torch.maximum(torch.minimum(a[..., 6], bound), -bound)[..., None]
        else:
            g = a[..., 6:7].clamp(-bound, bound)
        return torch.cat([t, r, g], -1)

    def within_limits(self, actions: Tensor, tol: float = 1e-6) -> bool:
        """True when every action (..., 7) is finite and inside the limits."""
        c = self.config
        if not torch.isfinite(actions).all():
            return False
        t = actions[..., :3]
        ok_t = (
            (t.abs() <= c.maxnorm + tol).all()
            if c.limit == "box"
            else (t.abs().sum(-1) <= c.l1_radius + tol).all()
        )
        ok_r = (actions[..., 3:6].abs() <= c.rot_maxnorm + tol).all()
        ok_g = (actions[..., 6].abs() <= self._gripper_bound(actions) + tol).all()
        ok_u = (actions[..., ~self.searched] == 0).all()
        return bool(ok_t and ok_r and ok_g and ok_u)

    def initial(self, horizon: int | None = None) -> tuple[Tensor, Tensor]:
        """Cold-start mean (zeros) and std, each (H, 7)."""
        h = self.config.horizon if horizon is None else horizon
        return (torch.zeros(h, 7, device=self.device), self.init_std_row.expand(h, 7).clone())

    # ---- optimisation -----------------------------------------------------------------
    @torch.no_grad()
    def optimize(
        self,
        energy_fn: Callable[[Tensor], Tensor],
        mean: Tensor | None = None,
        std: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> CEMResult:
        """Minimise ``energy_fn`` over (H, 7) action sequences; optional warm-start mean/std."""
        c = self.config
        H, S = c.horizon, c.num_samples
        m0, s0 = self.initial()
        mean = m0 if mean is None else mean.to(self.device, torch.float32).clone()
        std = s0 if std is None else std.to(self.device, torch.float32).clone()
        if mean.shape != (H, 7) or std.shape != (H, 7):
            raise ValueError(
                f"warm-start mean/std must be ({H}, 7), got {tuple(mean.shape)}, {tuple(std.shape)}"
            )
        mean = self.project(mean)
        std = torch.where(self.searched, torch.nan_to_num(std, nan=0.0).clamp_min(c.min_std), 0.0)
        if generator is None:
            generator = torch.Generator(device=self.device).manual_seed(c.seed)
        dims = self.dims
        history: list[float] = []
        best_e, best_a = math.inf, torch.zeros(H, 7, device=self.device)
        num_bad, elite_e, it = 0, math.nan, 0
        for it in range(1, c.iterations + 1):
            if c.step_major_noise:  # as the release: randn(S, D) for step 0, then step 1...
                noise = torch.randn(
                    H, S, len(dims), generator=generator, device=self.device
                ).transpose(0, 1)
            else:
                noise = torch.randn(S, H, len(dims), generator=generator, device=self.device)
            samples = mean.expand(S, H, 7).clone()
            samples[..., dims] += noise * std[:, dims]
            if c.include_mean:
                samples[0] = mean
            samples = self.project(samples)
            if c.close_gripper_from_step is not None:
                samples[:, self._forced(H), GRIPPER] = 1.0
            e = energy_fn(samples)
            if e.shape != (S,):
                raise ValueError(f"energy_fn must return ({S},), got {tuple(e.shape)}")
            e = e.to(torch.float64)
            finite = torch.isfinite(e)
            n_ok = int(finite.sum())
            num_bad += S - n_ok
            if n_ok == 0:
                return self._failed(
                    f"all {S} energies non-finite (NaN/inf) in CEM iteration {it}",
                    it,
                    num_bad,
                    history,
                )
            k = min(c.top_k, n_ok)
            order = torch.argsort(torch.where(finite, e, math.inf), stable=True)[:k]
            elites, elite_energies = samples[order], e[order]
            if float(elite_energies[0]) < best_e:
                best_e, best_a = float(elite_energies[0]), elites[0].clone()
            history.append(float(elite_energies[0]))
            elite_e = float(elite_energies.mean())
            new_mean = elites.mean(0)
            new_std = (
                elites.std(0, unbiased=c.std_unbiased) if k > 1 else torch.zeros_like(new_mean)
            )
            mean = self.m_mean * mean + (1 - self.m_mean) * new_mean
            std = self.m_std * std + (1 - self.m_std) * new_std
            std = torch.where(self.searched, std.clamp_min(c.min_std), 0.0)
            mean = self.project(mean)
            if c.stop_std > 0 and bool((std[:, dims] < c.stop_std).all()):
                break
        plan = self.project(mean)
        if c.gripper_deadband > 0:  # the release rounds small gripper commands to 0
            small = plan[:, GRIPPER].abs() < c.gripper_deadband
            plan[small, GRIPPER] = 0.0
        if not torch.isfinite(plan).all():  # cannot happen with finite samples; stay safe
            return self._failed("non-finite CEM mean", it, num_bad, history)
        return CEMResult(
            actions=plan,
            mean=mean,
            std=std,
            energy=elite_e,
            best_energy=best_e,
            best_actions=best_a,
            iterations=it,
            num_bad=num_bad,
            history=history,
        )

    def _failed(self, reason: str, it: int, num_bad: int, history: list[float]) -> CEMResult:
        H = self.config.horizon
        zeros = torch.zeros(H, 7, device=self.device)
        m0, s0 = self.initial()
        return CEMResult(
            actions=zeros,
            mean=m0,
            std=s0,
            energy=math.nan,
            best_energy=math.nan,
            best_actions=zeros.clone(),
            iterations=it,
            ok=False,
            reason=reason,
            num_bad=num_bad,
            history=history,
        )
