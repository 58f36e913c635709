"""Dependencies point one way: nodes -> logic -> models (static AST scan, nothing imported).

Every module of the four packages is parsed; every ``import`` / ``from ... import`` in it
(module level or inside a function, absolute or relative) is an edge. Checked:
- vjepa2_world_model imports nothing from vjepa2_planner_node, vjepa2_eval, bench,
  calibration or tests, and no ROS package (rclpy, message packages, launch);
- vjepa2_planner_node imports nothing from vjepa2_eval, bench, calibration or tests;
  vjepa2_eval (evaluation/demo clients) nothing from bench, calibration or tests;
  calibration nothing from vjepa2_planner_node, vjepa2_eval or bench;
- the graph of packages (vjepa2_world_model split into its subpackages / modules) has no
  cycle, and the bottom layers (pose, models) import nothing above them.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("vjepa2_world_model", "vjepa2_planner_node", "vjepa2_eval", "bench", "calibration")
ROS = {
    "rclpy",
    "launch",
    "launch_ros",
    "ament_index_python",
    "rosidl_runtime_py",
    "builtin_interfaces",
    "std_msgs",
    "std_srvs",
    "sensor_msgs",
    "geometry_msgs",
    "diagnostic_msgs",
    "visualization_msgs",
    "action_msgs",
    "rcl_interfaces",
    "vjepa2_interfaces",
}
FORBIDDEN = {
    "vjepa2_world_model": {"vjepa2_planner_node", "vjepa2_eval", "bench", "calibration", "tests"}
    | ROS,
    "vjepa2_planner_node": {"vjepa2_eval", "bench", "calibration", "tests"},
    "vjepa2_eval": {"bench", "calibration", "tests"},
    "calibration": {"vjepa2_planner_node", "vjepa2_eval", "bench", "tests"},
}
# vjepa2_world_model's bottom layers and what they may import from the package.
BOTTOM = {"pose": set(), "preprocess": set(), "progress": set(), "models": {"preprocess"}}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, is_package: bool) -> set[str]:
    """Absolute names of every module ``source`` imports (relative imports resolved)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.add(name)
            out.update(f"{name}.{a.name}" for a in node.names)  # from pkg import submodule
    return out


def unit(name: str) -> str:
    """Graph node of a module: its top package, vjepa2_world_model split one level."""
    parts = name.split(".")
    if parts[0] == "vjepa2_world_model" and len(parts) > 1:
        return f"vjepa2_world_model.{parts[1]}"
    return parts[0]


def scan() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            mod = module_name(path)
            graph[mod] = imports_of(path.read_text(), mod, path.name == "__init__.py")
    return graph


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m) :] + [m]
            if m not in state and (c := visit(m)):
                return c
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(edges):
        if n not in state and (c := visit(n)):
            return c
    return None


def unit_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    known = {unit(m) for m in graph}
    edges: dict[str, set[str]] = {}
    for mod, names in graph.items():
        src = unit(mod)
        for n in names:
            dst = unit(n)
            if (
                dst in known
                and dst != src
                and not (src.startswith("vjepa2_world_model.") and dst == "vjepa2_world_model")
            ):
                edges.setdefault(src, set()).add(dst)
    return edges


def test_scanner_sees_relative_and_lazy_imports() -> None:
    src = "def f():\n    import rclpy\nfrom ..sim import direct\nfrom . import pose\n"
    names = imports_of(src, "vjepa2_world_model.planning.agent", False)
    assert {"rclpy", "vjepa2_world_model.sim.direct", "vjepa2_world_model.planning.pose"} <= names
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None


def test_no_upward_imports() -> None:
    graph = scan()
    assert len(graph) > 80  # really scanned the packages
    bad = []
    for mod, names in graph.items():
        for n in sorted(names):
            if n.split(".")[0] in FORBIDDEN.get(mod.split(".")[0], ()):
                bad.append(f"{mod} imports {n}")
    assert not bad, "\n".join(bad)


def test_bottom_layers_import_nothing_above() -> None:
    bad = []
    for mod, names in scan().items():
        src = unit(mod).split(".")[-1]
        if mod.startswith("vjepa2_world_model.") and src in BOTTOM:
            for n in names:
                dst = unit(n)
                if dst.startswith("vjepa2_world_model.") and dst.split(".")[-1] not in (
                    BOTTOM[src] | {src}
                ):
                    bad.append(f"{mod} imports {n}")
    assert not bad, "\n".join(bad)


def test_no_circular_imports_between_packages() -> None:
    edges = unit_graph(scan())
    assert "vjepa2_planner_node" in edges  # the nodes do import the logic
    assert find_cycle(edges) is None, f"import cycle: {' -> '.join(find_cycle(edges))}"


def test_node_package_holds_nodes_and_the_logic_lives_below() -> None:
    """The planner's loop is one ROS-free agent module the node imports; evaluation and
    demo are not in the node package; the agent needs nothing of the simulator, data,
    training or viz."""
    graph = scan()
    agent = "vjepa2_world_model.planning.agent"
    assert agent in graph and agent in graph["vjepa2_planner_node.planner_node"]
    assert not [
        m
        for m in graph
        if m.startswith(("vjepa2_planner_node.evaluation", "vjepa2_planner_node.demo"))
    ]
    assert "vjepa2_world_model.evaluation.tasks" in graph["vjepa2_eval.run"]
    used = {unit(n) for n in graph[agent]} - {"vjepa2_world_model.planning"}
    assert used <= {
        "vjepa2_world_model.robot",
        "vjepa2_world_model",
        "numpy",
        "torch",
        "__future__",
        "math",
        "threading",
        "time",
        "collections",
        "dataclasses",
        "typing",
    }, used


def test_integration_module_list_names_existing_files() -> None:
    """tests/conftest.py's integration list: every entry is a test file that exists."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "tests_root_conftest", ROOT / "tests" / "conftest.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    missing = sorted(m for m in mod.INTEGRATION_MODULES if not (ROOT / "tests" / m).is_file())
    assert not missing, missing
