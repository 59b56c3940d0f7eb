"""The package's layering, checked by reading every module's imports (nothing is imported to check it).

Layers, foundation first; a module may import the package only from a lower layer or from its own unit
(its subpackage, or itself): text; certification and frames; actions; settings, oracles, tasks; fleet,
sampling and control; policies; guard; attacks and replay; sim; ros; tools; training (offline, imported by
nothing). Only ros/ imports ROS, only sim/ imports MuJoCo,
certification/ imports no torch and nothing else of the package, and the guard imports neither the task
renderer nor a concrete policy adapter.
"""
import ast
import re
import os
import sys

import pytest

from paths import ROOT

PACKAGE = os.path.join(ROOT, "rs_vla_guard")
LAYERS = [("text", "errors"), ("certification", "frames"), ("actions",), ("settings", "oracles", "tasks"), ("fleet", "sampling", "control"),
          ("policies",), ("guard",), ("attacks", "replay"), ("sim",), ("ros",), ("tools",), ("training",)]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}
# Old import paths kept working as thin re-exports: they sit on top of everything.
SHIMS = {"certify", "config", "node", "cli", "params", "__main__", "__init__"}
# Deliberate exceptions, each with its reason.
EXCEPTIONS = {}
ROS_PACKAGES = {"rclpy", "std_msgs", "std_srvs", "sensor_msgs", "geometry_msgs", "diagnostic_msgs", "lifecycle_msgs",
                "rcl_interfaces", "builtin_interfaces", "nav_msgs", "trajectory_msgs", "rosgraph_msgs", "launch", "launch_ros",
                "ament_index_python", "rosbag2_py"}


def modules():
    """(dotted name inside the package, path) of every module."""
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                relative = os.path.relpath(path, PACKAGE)[:-3].replace(os.sep, ".")
                yield relative.removesuffix(".__init__") if relative != "__init__" else "__init__", path


def imports(module, path):
    """(package-internal dotted targets, top-level external names) that ``module`` imports anywhere."""
    tree = ast.parse(open(path).read(), path)
    package_parts = module.split(".") if not path.endswith("__init__.py") else module.split(".") + ["__init__"]
    internal, external = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("rs_vla_guard"):
                    internal.add(alias.name.removeprefix("rs_vla_guard").lstrip("."))
                else:
                    external.add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if (node.module or "").startswith("rs_vla_guard"):
                    base = node.module.removeprefix("rs_vla_guard").lstrip(".")
                    internal.update(f"{base}.{a.name}".lstrip(".") for a in node.names)
                else:
                    external.add((node.module or "").split(".")[0])
            else:
                anchor = package_parts[:len(package_parts) - node.level]
                base = ".".join(anchor + ([node.module] if node.module else []))
                internal.update(f"{base}.{a.name}".lstrip(".") for a in node.names)
    return internal, external


def unit_of(dotted):
    return dotted.split(".")[0]


ALL = sorted(modules())


def test_every_module_is_in_a_layer_or_a_shim():
    for module, _ in ALL:
        assert module in SHIMS or unit_of(module) in RANK, f"{module} is in no layer"


@pytest.mark.parametrize("module,path", ALL, ids=[m for m, _ in ALL])
def test_imports_point_down_the_layers(module, path):
    if module in SHIMS:
        return
    internal, _ = imports(module, path)
    own = unit_of(module)
    for target in internal:
        unit = unit_of(target)
        if unit == own or not unit or (module, unit) in EXCEPTIONS:
            continue
        assert unit in RANK, f"{module} imports {target}, which is in no layer"
        assert RANK[unit] < RANK[own], f"{module} (layer {RANK[own]}) imports {target} (layer {RANK[unit]})"


@pytest.mark.parametrize("module,path", ALL, ids=[m for m, _ in ALL])
def test_only_ros_imports_ros_and_only_sim_imports_mujoco(module, path):
    _, external = imports(module, path)
    if unit_of(module) != "ros":
        assert not external & ROS_PACKAGES, f"{module} imports {external & ROS_PACKAGES}"
    if unit_of(module) != "sim":
        assert "mujoco" not in external, module


def test_certification_imports_numpy_scipy_and_itself_only():
    allowed = {"numpy", "scipy", "__future__"} | set(sys.stdlib_module_names)
    for module, path in ALL:
        if unit_of(module) != "certification":
            continue
        internal, external = imports(module, path)
        assert external <= allowed, f"{module} imports {external - allowed}"
        assert all(unit_of(t) == "certification" for t in internal), f"{module} imports {internal}"


def test_guard_imports_no_task_and_no_concrete_adapter():
    internal = set()
    for module, path in ALL:
        if unit_of(module) == "guard":
            internal |= imports(module, path)[0]
    assert not [t for t in internal if unit_of(t) == "tasks"], internal
    policies = {t.rsplit(".", 1)[0] for t in internal if unit_of(t) == "policies"}
    assert policies <= {"policies.base", "policies.factory"}, policies


def test_the_checker_sees_imports_of_every_form():
    # Guards the rules above against a parser that misses relative or function-level imports.
    internal, external = imports("ros.guard_node", os.path.join(PACKAGE, "ros", "guard_node.py"))
    assert "guard.Guard" in internal and "settings" in {unit_of(t) for t in internal}
    assert "rclpy" in external
    internal, _ = imports("sim.episodes", os.path.join(PACKAGE, "sim", "episodes.py"))
    assert "attacks.Attacker" in internal and "tasks.blocks" in internal


def test_control_imports_no_torch_ros_or_bag_library():
    # The control core is the rules of a control period: the node and the replay call it; it needs none of these.
    banned = {"torch", "rosbags", "mcap", "ray", "cv2", "transformers"} | ROS_PACKAGES
    for module, path in ALL:
        if unit_of(module) == "control":
            _, external = imports(module, path)
            assert not external & banned, f"{module} imports {external & banned}"


MODULES = {module for module, _ in ALL}


def module_of(target):
    """The package module a dotted import target names (``guard.Guard`` -> ``guard``), or None."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name in MODULES:
            return name
    return None


def test_no_import_cycle_anywhere_in_the_package():
    """Every import counts, function-level ones too; a package's ``__init__`` counts as the package."""
    graph = {}
    for module, path in ALL:
        if module in SHIMS:
            continue
        targets = {module_of(t) for t in imports(module, path)[0]} - {None, module}
        own_package = module.rsplit(".", 1)[0] if "." in module else None
        if path.endswith("__init__.py"):  # a package re-exporting its modules is not a cycle with them
            targets = {t for t in targets if not t.startswith(module + ".")}
        targets.discard(own_package)  # a module reading its package's __init__ names: the same unit
        graph[module] = targets - SHIMS
    seen, stack, cycles = {}, [], []

    def visit(node):
        seen[node] = "open"
        stack.append(node)
        for target in graph.get(node, ()):
            if seen.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in seen:
                visit(target)
        stack.pop()
        seen[node] = "done"

    for node in sorted(graph):
        if node not in seen:
            visit(node)
    assert not cycles, cycles[:5]


def test_no_module_over_500_lines():
    long = {module: n for module, path in ALL if (n := sum(1 for _ in open(path))) > 500}
    assert not long, long


def test_policies_import_nothing_above_them_and_hold_no_training_code():
    for module, path in ALL:
        if unit_of(module) != "policies":
            continue
        units = {unit_of(t) for t in imports(module, path)[0]}
        assert not units & {"sim", "attacks", "replay", "ros", "tools", "training"}, (module, units)
        assert not module.rsplit(".", 1)[-1].startswith("train"), f"{module}: training code belongs in training/"


def test_the_control_core_is_what_the_node_and_the_replay_use():
    users = {unit_of(module) for module, path in ALL if "control" in {unit_of(t) for t in imports(module, path)[0]}}
    assert {"ros", "replay"} <= users


INPUT_AND_TIMING_REASONS = ("STALE_IMAGE", "STALE_STATE", "NO_STATE", "NO_INSTRUCTION", "INVALID_INSTRUCTION",
                            "DEADLINE_EXCEEDED", "INVALID_STATE")


def test_no_input_or_timing_stop_is_decided_in_ros_or_replay():
    for module, path in ALL:
        if unit_of(module) in ("ros", "replay"):
            text = open(path).read()
            named = [r for r in INPUT_AND_TIMING_REASONS if re.search(rf"\b{r}\b", text)]
            assert not named, f"{module} names {named}: such stops are the control core's (control.rules)"
