"""Episode videos, filmstrips and explaining plots for demo and eval episodes.

Glue between the evaluation's records (tasks.Episode, vjepa2_eval's FrameLog) and the
ROS-free drawing in vjepa2_world_model.viz.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vjepa2_world_model.evaluation.tasks import PAPER_RESULTS, REACH_SUCCESS_M, Episode
from vjepa2_world_model.viz.overlay import EpisodeFrame
from vjepa2_world_model.viz.plots import plot_episode, plot_summary
from vjepa2_world_model.viz.video import write_episode_video, write_filmstrip


def episode_frames(ep: Episode, log: Any) -> list[EpisodeFrame]:
    """One EpisodeFrame per executed step (planner input + command) and one at the end."""
    goals, names = log.goal_images, log.goal_names
    if not goals:
        return []
    n_goals = len(goals)
    frames = []
    for rec, rgb in zip(ep.records, log.steps, strict=False):
        g = min(rec.goal_index, n_goals - 1)
        frames.append(
            EpisodeFrame(
                rgb,
                goals[g],
                rec.step - 1,
                g,
                n_goals,
                names[g] if g < len(names) else "",
                rec.energy,
                np.asarray(rec.action, float),
            )
        )
    if log.final is not None:
        g = frames[-1].goal_index if frames else 0
        frames.append(
            EpisodeFrame(
                log.final,
                goals[g],
                len(frames),
                g,
                n_goals,
                names[g] if g < len(names) else "",
                label="end: " + ("success" if ep.success else "failed"),
            )
        )
    return frames


def write_episode_media(
    out_dir: Path, ep: Episode, log: Any, threshold: float = 0.0, stem: str | None = None
) -> dict[str, Path]:
    """Video, filmstrip and per-episode figure of ``ep``; returns {kind: path}."""
    stem = stem or f"{ep.task}_ep{ep.index:02d}"
    d = Path(out_dir) / "episodes"
    paths: dict[str, Path] = {}
    frames = episode_frames(ep, log)
    if frames:
        paths["video"] = write_episode_video(frames, d / stem)
        paths["filmstrip"] = write_filmstrip(
            frames,
            d / f"{stem}_filmstrip.png",
            goal_images=log.goal_images,
            goal_names=log.goal_names,
        )
    err = None
    if ep.goal and ep.records:
        g = np.asarray(ep.goal[:3])
        err = [ep.start_error_cm] + [
            100 * float(np.linalg.norm(np.asarray(r.ee_xyz) - g)) for r in ep.records
        ]
    paths["plot"] = plot_episode(
        d / f"{stem}.png",
        f"{ep.task} episode {ep.index}: " + ("success" if ep.success else "failed"),
        [r.energy for r in ep.records],
        [r.goal_index for r in ep.records],
        log.goal_names or None,
        threshold,
        err,
        100 * REACH_SUCCESS_M,
    )
    return paths


def write_run_summary(out_dir: Path, summaries: dict[str, dict[str, Any]]) -> Path:
    """Success per task of this eval run beside the paper's figures (PNG)."""
    ours = {t: 100 * s["success_rate"] for t, s in summaries.items()}
    counts = {t: int(s["episodes"]) for t, s in summaries.items()}
    return plot_summary(
        Path(out_dir) / "summary.png",
        ours,
        PAPER_RESULTS,
        "success per task: this run vs the paper (real robot)",
        counts,
    )


def print_media(prefix: str, paths: dict[str, Path]) -> None:
    print(f"{prefix} " + ", ".join(f"{k}: {p}" for k, p in paths.items()), flush=True)
