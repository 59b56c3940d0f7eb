"""The package's layering, checked by reading every module's imports (nothing is imported to check it).

Layers, foundation first; a module may import the package only from a lower layer or from its own unit
(its subpackage, or itself): text; certification and frames; actions; params, oracles, tasks; fleet and
sampling; policies; guard; attacks and replay; sim; ros; tools. Only ros/ imports ROS, only sim/ imports MuJoCo,
certification/ imports no torch and nothing else of the package, and the guard imports neither the task
renderer nor a concrete policy adapter.
"""
import ast
import os
import sys

import pytest

from paths import ROOT

PACKAGE = os.path.join(ROOT, "rs_vla_guard")
LAYERS = [("text",), ("certification", "frames"), ("actions",), ("params", "oracles", "tasks"), ("fleet", "sampling", "control"),
          ("policies",), ("guard",), ("attacks", "replay"), ("sim",), ("ros",), ("tools",)]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}
# Old import paths kept working as thin re-exports: they sit on top of everything.
SHIMS = {"certify", "config", "node", "cli", "__main__", "policies.train_builtin", "__init__"}
# Deliberate exceptions, each with its reason.
EXCEPTIONS = {
    ("policies.builtin.data", "sim"): "the training scripts' data renders MuJoCo camera views; an offline tool "
                                      "that the guard never imports",
}
ROS_PACKAGES = {"rclpy", "std_msgs", "std_srvs", "sensor_msgs", "geometry_msgs", "diagnostic_msgs", "lifecycle_msgs",
                "rcl_interfaces", "builtin_interfaces", "nav_msgs", "rosgraph_msgs", "launch", "launch_ros",
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
    assert "guard.Guard" in internal and "params" in {unit_of(t) for t in internal}
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
