"""Results tables (markdown + JSON) and plots for evaluation runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from vjepa2_world_model.evaluation.tasks import PAPER_RESULTS, Episode, summarize
from vjepa2_world_model.viz.plots import plot_landscape  # noqa: F401  (moved there)


def write_results(
    out_dir: Path, task: str, episodes: list[Episode], meta: dict[str, Any]
) -> dict[str, Any]:
    """Write TASK.json (every episode) and TASK.md (summary + paper side by side)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(episodes)
    (out_dir / f"{task}.json").write_text(
        json.dumps(
            {"summary": summary, "meta": meta, "episodes": [e.to_dict() for e in episodes]},
            indent=1,
        )
    )
    lines = [
        f"# Evaluation: {task}",
        "",
        f"Command: `{meta.get('command', '')}`  ",
        f"Checkpoint: `{meta.get('checkpoint')}`"
        f"  preset: `{meta.get('preset')}`  date: {meta.get('date')}",
        "",
        *(
            [f"Not counted (cell faults, not verdicts): {'; '.join(meta['errors'])}", ""]
            if meta.get("errors")
            else []
        ),
        "| episode | success | start err (cm) | final err (cm) | steps | ms/step |",
        "|---|---|---|---|---|---|",
    ]
    for e in episodes:
        lines.append(
            f"| {e.index} | {'yes' if e.success else 'no'} | {e.start_error_cm:.1f} "
            f"| {e.final_error_cm:.1f} | {e.steps} | {e.mean_step_ms:.0f} |"
        )
    lines += ["", "| figure | measured |", "|---|---|"]
    lines += [
        f"| {k} | {v:.3g} |" if isinstance(v, float) else f"| {k} | {v} |"
        for k, v in summary.items()
    ]
    lines += ["", paper_table({task: summary["success_rate"] * 100}), ""]
    (out_dir / f"{task}.md").write_text("\n".join(lines))
    return summary


def paper_table(ours: dict[str, float]) -> str:
    """Success rates (%) of our run next to the paper's rows for the same tasks."""
    tasks = list(ours)
    rows = [
        "| method | " + " | ".join(tasks) + " |",
        "|---" * (len(tasks) + 1) + "|",
        "| this stack (sim, shipped weights) | "
        + " | ".join(f"{ours[t]:.0f}" for t in tasks)
        + " |",
    ]
    for name, res in PAPER_RESULTS.items():
        rows.append(
            f"| {name} | " + " | ".join(f"{res[t]:.0f}" if t in res else "-" for t in tasks) + " |"
        )
    return "\n".join(rows)


def plot_episodes(out_dir: Path, task: str, episodes: list[Episode]) -> list[Path]:
    """Error-over-steps (when goals are positions) and energy-over-steps PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    has_goal = [e for e in episodes if e.goal and e.records]
    if has_goal:
        fig, ax = plt.subplots(figsize=(6, 4))
        for e in has_goal:
            g = np.asarray(e.goal[:3])
            err = [e.start_error_cm] + [
                100 * float(np.linalg.norm(np.asarray(r.ee_xyz) - g)) for r in e.records
            ]
            ax.plot(range(len(err)), err, alpha=0.6)
        ax.axhline(4.0, color="k", ls="--", lw=1, label="4 cm (paper)")
        ax.set(
            xlabel="planning step",
            ylabel="end-effector error to goal (cm)",
            title=f"{task}: error over steps",
        )
        ax.legend()
        fig.tight_layout()
        paths.append(out_dir / f"{task}_error.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    for e in episodes:
        if e.records:
            ax.plot([r.step for r in e.records], [r.energy for r in e.records], alpha=0.6)
    ax.set(
        xlabel="planning step",
        ylabel="energy of the chosen plan",
        title=f"{task}: energy over steps",
    )
    fig.tight_layout()
    paths.append(out_dir / f"{task}_energy.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths
