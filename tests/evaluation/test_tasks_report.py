"""Evaluation logic without ROS: goal sampling, move splitting, success rules, reports."""

import json

import numpy as np
import pytest

from vjepa2_world_model.evaluation import tasks as T
from vjepa2_world_model.evaluation.report import paper_table, plot_episodes, write_results


def test_reach_goals_are_seeded_spread_and_away_from_start() -> None:
    a, b = T.sample_reach_goals(10, seed=3), T.sample_reach_goals(10, seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, T.sample_reach_goals(10, seed=4))
    assert (a >= T.REACH_REGION_MIN).all() and (a <= T.REACH_REGION_MAX).all()
    assert (np.linalg.norm(a - T.START_XYZ, axis=1) >= 0.08).all()
    # Latin hypercube: every tenth of each axis holds exactly one goal (before re-draws)
    x = (a[:, 0] - T.REACH_REGION_MIN[0]) / (T.REACH_REGION_MAX - T.REACH_REGION_MIN)[0]
    assert len(set(np.floor(x * 10).astype(int))) >= 8
    with pytest.raises(ValueError, match="at least one"):
        T.sample_reach_goals(0, 0)


def test_split_move_respects_the_step_limit_and_sums_up() -> None:
    d = np.array([0.25, -0.1, 0.05])
    pieces = T.split_move(d, 0.1)
    assert len(pieces) == 3
    assert max(np.linalg.norm(p) for p in pieces) <= 0.1 + 1e-12
    np.testing.assert_allclose(np.sum(pieces, axis=0), d)
    assert len(T.split_move(np.zeros(3), 0.1)) == 1


def test_success_rules() -> None:
    assert T.lifted(0.02, 0.07) and not T.lifted(0.02, 0.05)
    assert T.placed(np.array([0.42, 0.06, 0.02]), np.array([0.44, 0.07]), 0.02)
    assert not T.placed(np.array([0.50, 0.06, 0.02]), np.array([0.42, 0.06]), 0.02)  # 8 cm off
    assert not T.placed(np.array([0.42, 0.06, 0.10]), np.array([0.42, 0.06]), 0.02)  # in the air


def _episode(i: int, start: float, final: float) -> T.Episode:
    recs = [
        T.StepRecord(
            step=k + 1,
            goal_index=0,
            energy=1.0 - 0.1 * k,
            action=[0.0] * 7,
            plan_ms=100.0,
            step_ms=900.0,
            ee_xyz=[0.4, 0.0, 0.3 - 0.01 * k],
        )
        for k in range(3)
    ]
    return T.Episode(
        task="reach",
        index=i,
        success=final < 4,
        steps=3,
        start_error_cm=start,
        final_error_cm=final,
        mean_step_ms=900,
        mean_plan_ms=100,
        goal=[0.4, 0.0, 0.25],
        records=recs,
    )


def test_summary_report_and_plots(tmp_path) -> None:
    eps = [_episode(0, 20.0, 2.0), _episode(1, 15.0, 6.0), _episode(2, 10.0, 12.0)]
    s = T.summarize(eps)
    assert s["median_final_error_cm"] == 6.0
    assert s["share_under_4cm"] == pytest.approx(1 / 3)
    assert s["improved_share"] == pytest.approx(2 / 3)
    assert s["success_rate"] == pytest.approx(1 / 3)
    write_results(tmp_path, "reach", eps, {"command": "vjepa2 eval reach", "checkpoint": "w"})
    data = json.loads((tmp_path / "reach.json").read_text())
    assert len(data["episodes"]) == 3 and data["summary"]["episodes"] == 3
    md = (tmp_path / "reach.md").read_text()
    assert "V-JEPA 2-AC (paper)" in md and "| this stack" in md
    paths = plot_episodes(tmp_path, "reach", eps)
    assert {p.name for p in paths} == {"reach_error.png", "reach_energy.png"}
    assert all(p.stat().st_size > 1000 for p in paths)
    with pytest.raises(ValueError):
        T.summarize([])


def test_paper_table_lines_up_our_figures_with_the_papers() -> None:
    table = paper_table({"reach": 90.0, "pick-place": 20.0})
    lines = table.splitlines()
    assert lines[2].startswith("| this stack") and "| 90 | 20 |" in lines[2]
    assert "| 100 | 65 |" in lines[3]  # the paper's V-JEPA 2-AC row for the same tasks


def test_pick_place_start_is_within_the_grasp_budget() -> None:
    """From the hover start, 4 steps inside the planner's per-step L1 ball (and under the
    bridge's step limit) cover the way to the grasp pose; from home they do not."""
    from vjepa2_world_model.robot.safety import SafetyLimits

    bridge_max = SafetyLimits().max_translation
    cube = np.array([0.50, -0.10])
    for i in range(50):
        rng = T.episode_rng(0, "pick-place", i)
        obj = cube + rng.uniform(-0.03, 0.03, 2)
        start = T.hover_start(obj, rng)
        grasp = np.array([obj[0], obj[1], T.GRASP_Z])
        assert np.abs(start[:2] - obj).max() <= T.START_JITTER_M
        assert T.l1_steps(grasp - start) <= 2  # 2 of the 4 steps spare for the gripper
        assert np.linalg.norm(grasp - start) < bridge_max
        assert T.l1_steps(grasp - start, 0.05) <= 3  # the reference box limit, z axis
    assert T.l1_steps(np.array([obj[0], obj[1], T.GRASP_Z]) - T.START_XYZ) > 4


def test_episode_seeds_and_gripper_commands() -> None:
    a = T.episode_rng(7, "grasp-cube", 2).random(3)
    np.testing.assert_array_equal(a, T.episode_rng(7, "grasp-cube", 2).random(3))
    assert not np.allclose(a, T.episode_rng(7, "grasp-cube", 3).random(3))
    assert not np.allclose(a, T.episode_rng(7, "grasp-cup", 2).random(3))
    recs = [
        T.StepRecord(i, 0, 0.1, [0, 0, 0, 0, 0, 0, g], 1.0, 1.0, [0, 0, 0])
        for i, g in enumerate([0.0, 0.15, -0.3, 0.9])
    ]
    assert T.gripper_commands(recs) == 2
