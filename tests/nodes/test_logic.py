"""Plain logic under the nodes (no ROS graph): planner loop, watchdog, goals, params, bringup."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vjepa2_planner_node import bringup
from vjepa2_planner_node.cem_glue import CEMSettings, make_planner
from vjepa2_planner_node.goal_library import GoalLibrary
from vjepa2_planner_node.params import ParamError, check_device, check_goal_name
from vjepa2_planner_node.planner_logic import (
    CANCELED,
    FAILED,
    HOLDING,
    SUCCEEDED,
    ExecResult,
    GoalRun,
    Observation,
    Plan,
    expand_budgets,
    run_goals,
)
from vjepa2_planner_node.world_model_core import ObservationBuffer

from .toy_model import toy_core


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make_run(energies: list[float], obs_script: list | None = None, fail_at: int = -1,
             cancel_after: int = 10**9) -> tuple[GoalRun, dict]:
    """A GoalRun whose observed energy follows ``energies`` (one per observation)."""
    log: dict = {"executed": [], "reports": [], "seq": 0}
    script = list(obs_script or [])
    it = iter(energies)

    def observe(after: int) -> Observation | str:
        if script:
            item = script.pop(0)
            if isinstance(item, str):
                return item
        log["seq"] += 1
        return Observation(z=next(it), state=np.zeros(7), frame_seq=log["seq"])

    def execute(a: np.ndarray) -> ExecResult:
        log["executed"].append(a)
        if len(log["executed"]) == fail_at:
            return ExecResult(False, "joint limit")
        return ExecResult(True)

    run = GoalRun(
        observe=observe,
        observed_energy=lambda obs, zg: obs.z,
        plan=lambda obs, zg: Plan(np.full(7, 0.01), np.full((2, 7), 0.01), obs.z - 0.1),
        execute=execute,
        cancelled=lambda: len(log["executed"]) >= cancel_after,
        report=log["reports"].append,
        hold_poll_s=0.0,
    )
    return run, log


def test_run_goals_stops_at_threshold_then_next_goal() -> None:
    run, log = make_run([0.9, 0.5, 0.2, 0.8, 0.1])
    out = run_goals(run, [("a", None), ("b", None)], [5, 5], threshold=0.3)
    assert out.success and out.state == SUCCEEDED
    assert out.steps == 3 and out.goals_reached == 2 and len(log["executed"]) == 3
    assert math.isclose(out.final_energy, 0.1)
    done = [r for r in log["reports"] if r.state == "step_done"]
    assert [r.step for r in done] == [1, 2, 3] and [r.goal_index for r in done] == [0, 0, 1]


def test_run_goals_budget_spent_is_failure() -> None:
    run, log = make_run([0.9] * 10)
    out = run_goals(run, [("a", None)], [3], threshold=0.3)
    assert not out.success and out.state == FAILED and out.steps == 3
    assert "0/1" in out.message


def test_run_goals_patience_moves_on_and_counts_as_not_reached() -> None:
    run, log = make_run([0.9, 0.8, 0.85, 0.86, 0.5, 0.4, 0.3])
    out = run_goals(run, [("a", None), ("b", None)], [9, 2], threshold=0.0, patience=2)
    msgs = [r.message for r in log["reports"] if r.message]
    assert any("stopped improving" in m for m in msgs), msgs
    # goal a: steps after 0.9, 0.8, 0.85; 0.86 is the second without a gain -> goal b
    done = [r.goal_index for r in log["reports"] if r.state == "step_done"]
    assert done == [0, 0, 0, 1, 1] and out.steps == 5
    assert not out.success and out.goals_reached == 0 and "0/2" in out.message


def test_hold_while_stale_then_resume() -> None:
    stale = "camera stale: 2 s"
    run, log = make_run([0.9, 0.8, 0.7], obs_script=[None, stale, stale])
    out = run_goals(run, [("a", None)], [2], threshold=0.1)
    states = [r.state for r in log["reports"]]
    assert HOLDING in states
    held = [r for r in log["reports"] if r.state == HOLDING]
    assert len(held) == 1 and "camera stale" in held[0].message  # reported once per reason
    assert out.steps == 2  # resumed after inputs returned


def test_hold_timeout_fails_and_cancel_stops() -> None:
    run, _ = make_run([0.9], obs_script=["no camera frame"] * 1000)
    run.hold_timeout_s = 0.0
    out = run_goals(run, [("a", None)], [2], threshold=0.1)
    assert out.state == FAILED and "stale" in out.message
    run, log = make_run([0.9] * 10, cancel_after=2)
    out = run_goals(run, [("a", None)], [9], threshold=0.1)
    assert out.state == CANCELED and len(log["executed"]) == 2


def test_execution_fault_stops() -> None:
    run, log = make_run([0.9] * 10, fail_at=2)
    out = run_goals(run, [("a", None)], [9], threshold=0.1)
    assert out.state == FAILED and "joint limit" in out.message and out.steps == 1


def test_expand_budgets() -> None:
    assert expand_budgets(3, [], 7) == [7, 7, 7]
    assert expand_budgets(3, [4], 7) == [4, 4, 4]
    assert expand_budgets(3, [4, 10, 4], 7) == [4, 10, 4]
    with pytest.raises(ValueError, match="2 values for 3 goals"):
        expand_budgets(3, [1, 2], 7)
    with pytest.raises(ValueError, match="no goals"):
        expand_budgets(0, [], 7)


def test_observation_watchdog() -> None:
    clock = Clock()
    buf = ObservationBuffer(stale_after=0.5, clock=clock)
    assert not buf.health().ok and "no camera frame" in buf.health().reason
    buf.put_frame(np.zeros((4, 4, 3), np.uint8))
    assert "no robot state" in buf.health().reason
    buf.put_state(np.arange(7.0))
    assert buf.health().ok
    clock.t = 0.6
    h = buf.health()
    assert not h.ok and "camera stale" in h.reason and h.frame_age == pytest.approx(0.6)
    buf.report_fault("malformed camera frame: step 5")
    assert "malformed camera frame" in buf.health().reason
    buf.put_frame(np.zeros((4, 4, 3), np.uint8))
    buf.put_state(np.arange(7.0))
    assert buf.health().ok
    with pytest.raises(ValueError, match="7 finite"):
        buf.put_state(np.array([1.0, np.nan, 0, 0, 0, 0, 0]))


def test_goal_library(tmp_path) -> None:
    lib = GoalLibrary(tmp_path / "goals")
    img = np.random.default_rng(0).integers(0, 255, (8, 6, 3), dtype=np.uint8)
    lib.save("cup_in_hand", img)
    assert lib.names() == ["cup_in_hand"] and "cup_in_hand" in lib
    np.testing.assert_array_equal(lib.load("cup_in_hand"), img)  # RGB order kept
    with pytest.raises(ValueError, match="already exists"):
        lib.save("cup_in_hand", img)
    lib.save("cup_in_hand", img[::-1].copy(), overwrite=True)
    with pytest.raises(KeyError, match="no goal named 'x'"):
        lib.load("x")
    with pytest.raises(ValueError, match="invalid goal name"):
        lib.save("../evil", img)
    lib.delete("cup_in_hand")
    assert lib.names() == []


def test_params() -> None:
    assert check_device("cuda:1") == "cuda:1"
    with pytest.raises(ParamError, match="parameter 'device'"):
        check_device("gpu")
    with pytest.raises(ParamError, match="parameter 'name'"):
        check_goal_name("a b")


def test_cem_planner_on_toy_model() -> None:
    core = toy_core()
    img = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    z0 = core.encode(img)
    a_star = torch.tensor([[0.03, -0.02, 0.01, 0, 0, 0, 0.3]])
    zhat = core.predictor.step(z0[None], a_star, torch.zeros(1, 7), core.predictor.new_cache())
    zg = torch.nn.functional.layer_norm(zhat[0], (zhat.shape[-1],))  # reachable goal
    obs = Observation(z0, np.zeros(7), 1)
    cfg = CEMSettings(horizon=1, samples=64, iterations=4, elites=8, seed=3)
    p1 = make_planner(core, cfg)(obs, zg)
    assert p1.action.shape == (7,) and p1.actions.shape == (1, 7)
    # cpu preset: xyz in an L1 ball of 0.075, rotation not searched
    assert np.abs(p1.actions[:, :3]).sum(-1).max() <= 0.075 + 1e-6
    assert np.all(p1.actions[:, 3:6] == 0)
    e0 = float(core.energies(z0, np.zeros(7), torch.zeros(1, 1, 7), zg)[0])
    assert p1.energy < 0.7 * e0  # much better than doing nothing
    assert np.sign(p1.action[0]) == 1 and np.sign(p1.action[6]) == 1  # towards a_star
    p2 = make_planner(core, cfg)(obs, zg)  # seeded: same plan again
    np.testing.assert_allclose(p1.action, p2.action)
    with pytest.raises(ValueError, match=r"\(S, H, 7\)"):
        core.energies(z0, np.zeros(7), torch.zeros(2, 7), zg)


def test_state_alpha_needs_a_readout_and_steers_the_plan(tmp_path) -> None:
    from vjepa2_planner_node.cem_glue import load_readout
    from vjepa2_world_model.checkpoints import save_model
    from vjepa2_world_model.models.readout import ReadoutConfig, StateReadout

    core = toy_core()
    img = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    z0 = core.encode(img)
    obs = Observation(z0, np.zeros(7), 1)
    cfg = CEMSettings(horizon=1, samples=64, iterations=4, elites=8, seed=3, state_alpha=20.0)
    with pytest.raises(ParamError, match="readout"):
        make_planner(core, cfg)
    head = StateReadout(ReadoutConfig(embed_dim=32, num_tokens=64))
    torch.nn.init.zeros_(head.mlp[-1].weight)
    with torch.no_grad():  # a head that reads the goal state (-5 cm in x) from any image
        head.mlp[-1].bias.copy_(torch.tensor([-0.05, 0, 0, 0, 0, 0, 0]))
    path = save_model(head, tmp_path / "readout.safetensors")
    plan = make_planner(core, cfg, load_readout(str(path)))(obs, z0)
    assert plan.action[0] < -0.03  # toward the readout's goal state, not the image's
    with pytest.raises(ParamError, match="readout"):
        load_readout(str(tmp_path / "missing.safetensors"))


# -- bringup: one YAML, two front ends -------------------------------------------------
def test_bringup_resolve_and_validation(tmp_path) -> None:
    b = bringup.load_bringup("pick_place")
    assert set(bringup.LAUNCH_ARGUMENTS) <= set(b.arguments)
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    specs = bringup.resolve(b, {"checkpoint": str(ckpt), "use_sim": "false"})
    names = [s.name for s in specs]
    assert "sim_cell" not in names and "rviz" not in names
    assert {"franka_bridge", "planner_node", "goal_selector"} <= set(names)
    planner = next(s for s in specs if s.name == "planner_node")
    assert planner.parameters["checkpoint"] == str(ckpt)
    assert planner.parameters["device"] == "auto"
    specs = bringup.resolve(b, {"checkpoint": str(ckpt), "use_sim": "true", "rviz": "true"})
    assert "sim_cell" in [s.name for s in specs]
    rviz = next(s for s in specs if s.name == "rviz")
    assert not rviz.pip and rviz.arguments[1].endswith("config/vjepa2.rviz")
    assert not rviz.required
    for bad, param in [({"device": "tpu"}, "device"), ({"checkpoint": "/nope"}, "checkpoint"),
                       ({"camera_topic": "not a topic"}, "camera_topic"),
                       ({"use_sim": "maybe"}, "use_sim"), ({"robot": "x"}, "robot"),
                       ({"hold_margin": "soon"}, "hold_margin"),
                       ({"gripper_margin": "x"}, "gripper_margin")]:
        with pytest.raises(ParamError, match=f"parameter '{param}'"):
            bringup.resolve(b, {"checkpoint": str(ckpt), **bad})
    assert planner.parameters["hold_margin"] == 0.0  # hold rule on by default
    assert planner.parameters["gripper_margin"] == 0.002
    off = bringup.resolve(b, {"checkpoint": str(ckpt), "hold_margin": "-1"})
    # an integer-looking value still reaches the node as the double it declares
    margin = next(s for s in off if s.name == "planner_node").parameters["hold_margin"]
    assert margin == -1.0 and isinstance(margin, float)
    assert planner.parameters["goals_dir"] == str(bringup.share_dir() / "goals/pick_place")


# the launch files themselves: tests/nodes/test_launch_files.py


def test_robot_fault_fails_goal_also_while_holding() -> None:
    """A fault reported by the bridge ends the goal with it; a held goal does not wait."""
    run, log = make_run([0.9] * 10)
    faults = iter([None, None, "bridge reports fault: robot unreachable"] + [None] * 10)
    run.fault = lambda: next(faults)
    out = run_goals(run, [("a", None)], [9], threshold=0.1)
    assert out.state == FAILED and "robot unreachable" in out.message
    assert len(log["executed"]) == 1  # nothing sent after the fault
    run, log = make_run([0.9], obs_script=["robot state stale"] * 1000)
    calls = {"n": 0}

    def fault() -> str | None:
        calls["n"] += 1
        return "bridge reports fault: tracking error" if calls["n"] > 3 else None

    run.fault = fault
    out = run_goals(run, [("a", None)], [2], threshold=0.1)
    assert out.state == FAILED and "tracking error" in out.message and not log["executed"]


def test_hold_timeout_is_finite_by_default() -> None:
    from vjepa2_planner_node.planner_node import PLANNER_PARAMS

    assert math.isfinite(GoalRun.__dataclass_fields__["hold_timeout_s"].default)
    assert 0 < PLANNER_PARAMS["hold_timeout_s"] < 60


def test_goal_cache_is_bounded_lru() -> None:
    from vjepa2_planner_node import world_model_core

    core = toy_core()
    img = np.zeros((32, 32, 3), np.uint8)
    core.set_goal("__active__", img)
    for i in range(world_model_core.MAX_GOALS + 50):
        core.set_goal(f"request:g{i}", img)
        if i == 5:
            core.goal("request:g0")  # used again: kept longer
    assert len(core.goals) == world_model_core.MAX_GOALS + 1  # + the pinned active goal
    assert "__active__" in core.goals and "request:g1" not in core.goals
    with pytest.raises(KeyError, match="not encoded"):
        core.goal("request:g1")


def test_goal_library_bounds_image_size(tmp_path) -> None:
    """A PNG header claiming 40000 x 40000 -> a named ValueError, never cv2.error."""
    import struct
    import zlib

    lib = GoalLibrary(tmp_path)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
           + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))
    (tmp_path / "huge.png").write_bytes(png)
    with pytest.raises(ValueError, match="40000x40000"):
        lib.load("huge")
    (tmp_path / "fake.png").write_bytes(b"not a png at all, just text" * 10)
    with pytest.raises(ValueError, match="not a PNG"):
        lib.load("fake")
    with pytest.raises(ValueError, match="aspect"):
        lib.save("wide", np.zeros((1, 4096, 3), np.uint8))


def test_planner_settings_take_every_default_from_the_preset() -> None:
    from vjepa2_planner_node.planner_node import PLANNER_PARAMS
    from vjepa2_world_model.planning import get_preset

    node_defaults = CEMSettings(
        preset=PLANNER_PARAMS["preset"], horizon=PLANNER_PARAMS["horizon"],
        samples=PLANNER_PARAMS["samples"], iterations=PLANNER_PARAMS["iterations"],
        elites=PLANNER_PARAMS["elites"], seed=PLANNER_PARAMS["seed"],
        hold_margin=PLANNER_PARAMS["hold_margin"],
        gripper_margin=PLANNER_PARAMS["gripper_margin"])
    assert node_defaults.planner_config() == get_preset("cpu", seed=0)
    assert CEMSettings().planner_config() == get_preset("cpu", seed=0)
    cfg = CEMSettings(hold_margin=0.0, gripper_margin=0.002).planner_config()
    assert (cfg.hold_margin, cfg.gripper_margin) == (0.0, 0.002)
    cfg = CEMSettings(hold_margin=-1.0, gripper_margin=-1.0).planner_config()
    assert (cfg.hold_margin, cfg.gripper_margin) == (None, None)


def test_node_planner_uses_the_configs_rollout_settings() -> None:
    from vjepa2_world_model.planning import get_preset
    from vjepa2_world_model.planning.world_model import CachedRollout, NaiveRollout

    core = toy_core()
    naive = core.rollout_for(get_preset("cpu", rollout="naive", chunk_size=3, amp=False))
    assert isinstance(naive, NaiveRollout) and naive.chunk_size == 3 and not naive.amp
    assert isinstance(core.rollout_for(get_preset("cpu")), CachedRollout)
    assert core.rollout_for(get_preset("cpu", rollout="naive", chunk_size=3, amp=False)) is naive
