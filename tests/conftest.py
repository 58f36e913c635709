"""Test kinds: fast unit tests (plain Python, in-process) and integration tests (real node
processes, the simulator, CLI subprocesses). The test command runs both; select one kind
with ``-m unit`` or ``-m integration`` (e.g. ``scripts/test.sh -m unit`` while editing).

A test module is an integration test when it is listed here: it starts processes (ROS
nodes, franky-sim, the ``vjepa2`` CLI, DDP workers) and takes seconds to minutes.
"""

from __future__ import annotations

import pytest

INTEGRATION_MODULES = {
    "data/test_collect.py",
    "data/test_droid_train.py",
    "evaluation/test_grasp_eval_e2e.py",
    "evaluation/test_reach_eval_e2e.py",
    "nodes/test_action_client_race.py",
    "nodes/test_bridge_cancel.py",
    "nodes/test_bringup_record.py",
    "nodes/test_foxglove.py",
    "nodes/test_interrupts.py",
    "nodes/test_launch_files.py",
    "nodes/test_node_signals.py",
    "nodes/test_replay.py",
    "nodes/test_replay_faults.py",
    "nodes/test_sim_stack.py",
    "nodes/test_stack.py",
    "planning/test_bench_plan.py",
    "sim/test_cell_bridge.py",
    "sim/test_faults.py",
    "sim/test_live_matches_direct.py",
    "training/test_ddp.py",
    "world_model/test_release_layout.py",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: fast in-process test (no node processes)")
    config.addinivalue_line("markers", "integration: starts real processes (nodes, simulator, CLI)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath / "tests"
    for item in items:
        rel = item.path.relative_to(root).as_posix() if item.path.is_relative_to(root) else ""
        kind = "integration" if rel in INTEGRATION_MODULES else "unit"
        item.add_marker(getattr(pytest.mark, kind))
