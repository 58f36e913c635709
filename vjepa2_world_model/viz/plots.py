"""Matplotlib figures that explain an episode and an evaluation run (PNG, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def subgoal_spans(goal_index: list[int]) -> list[tuple[int, int, int]]:
    """[(goal, first step, last step)] for runs of equal goal index (steps 0-based)."""
    spans: list[tuple[int, int, int]] = []
    for k, g in enumerate(goal_index):
        if spans and spans[-1][0] == g:
            spans[-1] = (g, spans[-1][1], k)
        else:
            spans.append((g, k, k))
    return spans


def plot_episode(
    path: str | Path,
    title: str,
    energy: list[float],
    goal_index: list[int],
    goal_names: list[str] | None = None,
    threshold: float = 0.0,
    ee_error_cm: list[float] | None = None,
    success_cm: float | None = 4.0,
) -> Path:
    """One figure per episode: energy over steps (sub-goal boundaries, threshold) and,
    when given, the end-effector error to the goal pose over steps (ground truth).

    ``energy[k]``/``goal_index[k]`` belong to step k+1 (1-based on the axis);
    ``ee_error_cm`` has one more value, the error before the first step."""
    plt = _plt()
    rows = 2 if ee_error_cm else 1
    fig, axes = plt.subplots(rows, 1, figsize=(7, 3.2 * rows), sharex=True, squeeze=False)
    ax = axes[0, 0]
    steps = np.arange(1, len(energy) + 1)
    ax.plot(steps, energy, "o-", color="tab:blue", label="energy of the chosen plan")
    spans = subgoal_spans(goal_index)
    for g, a, b in spans:
        if a > 0:
            for axx in axes[:, 0]:
                axx.axvline(a + 0.5, color="0.4", ls=":", lw=1)
        name = goal_names[g] if goal_names and g < len(goal_names) else ""
        ax.text(
            (a + b) / 2 + 1,
            1.0,
            f"sub-goal {g + 1}" + (f"\n{name}" if name else ""),
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    if threshold > 0:
        ax.axhline(
            threshold, color="tab:red", ls="--", lw=1, label=f"energy threshold {threshold:g}"
        )
    else:
        ax.plot([], [], " ", label="energy threshold: off (runs the step budget)")
    ax.set_ylabel("energy (L1 to goal features)")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(title, pad=26)
    if ee_error_cm:
        ax2 = axes[1, 0]
        ax2.plot(
            np.arange(len(ee_error_cm)),
            ee_error_cm,
            "o-",
            color="tab:green",
            label="end-effector error (simulator ground truth, eval only)",
        )
        if success_cm is not None:
            ax2.axhline(success_cm, color="k", ls="--", lw=1, label=f"{success_cm:g} cm (paper)")
        ax2.set_ylabel("error to goal pose (cm)")
        ax2.set_ylim(bottom=0)
        ax2.legend(fontsize=8, loc="upper right")
    axes[-1, 0].set_xlabel(
        "planning step (0 = before the first step)" if ee_error_cm else "planning step"
    )
    if len(energy) or ee_error_cm:
        axes[-1, 0].set_xlim(-0.3 if ee_error_cm else 0.5, max(len(energy), 1) + 0.5)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_landscape(
    path: str | Path,
    dx: np.ndarray,
    dy: np.ndarray,
    energy: np.ndarray,
    true_opt: tuple[float, float],
    title: str,
    chosen: tuple[float, float] | None = None,
) -> Path:
    """Energy over a (dx, dy) grid (``energy[i, j]`` at dx[i], dy[j]) with the grid's
    minimum, the true optimum (goal offset, ground truth) and the planner's chosen action."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    im = ax.pcolormesh(dx * 100, dy * 100, energy.T, shading="auto", cmap="viridis")
    fig.colorbar(im, ax=ax, label="energy")
    i, j = np.unravel_index(np.argmin(energy), energy.shape)
    ax.plot(
        dx[i] * 100, dy[j] * 100, "P", color="white", mec="black", ms=11, label="energy minimum"
    )
    ax.plot(true_opt[0] * 100, true_opt[1] * 100, "r*", ms=13, label="true optimum (ground truth)")
    if chosen is not None:
        ax.plot(
            chosen[0] * 100,
            chosen[1] * 100,
            "o",
            color="orange",
            mec="black",
            ms=9,
            label="planner's chosen action",
        )
        ax.annotate(
            "",
            (chosen[0] * 100, chosen[1] * 100),
            (0, 0),
            arrowprops={"arrowstyle": "->", "color": "orange"},
        )
    ax.set(xlabel="dx (cm)", ylabel="dy (cm)", title=title)
    ax.set_xlim(dx[0] * 100, dx[-1] * 100)
    ax.set_ylim(dy[0] * 100, dy[-1] * 100)
    fig.legend(loc="lower center", ncol=2, fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_summary(
    path: str | Path,
    ours: dict[str, float],
    references: dict[str, dict[str, float]],
    title: str,
    counts: dict[str, int] | None = None,
) -> Path:
    """Success rate (%) per task: this run beside the reference rows (the paper's)."""
    plt = _plt()
    tasks = list(ours)
    rows = {"this run (sim)": ours, **references}
    width = 0.8 / len(rows)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(tasks) + 2), 3.8))
    x = np.arange(len(tasks))
    for k, (name, res) in enumerate(rows.items()):
        vals = [res.get(t, np.nan) for t in tasks]
        bars = ax.bar(x + (k - (len(rows) - 1) / 2) * width, vals, width, label=name)
        for b, v in zip(bars, vals, strict=True):
            if not np.isnan(v):
                ax.text(
                    b.get_x() + b.get_width() / 2,
                    v + 1,
                    f"{v:.0f}",
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
    labels = [f"{t}\n(n={counts[t]})" if counts and t in counts else t for t in tasks]
    ax.set_xticks(x, labels)
    ax.set(ylabel="success (%)", ylim=(0, 128), title=title)
    ax.legend(fontsize=8, loc="upper center", ncol=len(rows), frameon=False)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
