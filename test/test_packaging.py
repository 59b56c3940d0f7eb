"""The ROS package's files: launch file arguments, package manifest, entry points."""
import importlib
import os
import re

from paths import ROOT


def test_launch_file_declares_the_documented_arguments():
    source = open(os.path.join(ROOT, "launch", "guard.launch.py")).read()
    compile(source, "guard.launch.py", "exec")
    for argument in ("params_file", "namespace", "use_sim_time", "autostart", "log_level", "image_topic",
                     "cmd_vel_topic"):
        assert f'DeclareLaunchArgument("{argument}"' in source
    assert 'executable="guard_node"' in source and 'name="rs_vla_guard"' in source


def test_package_manifest_and_entry_points():
    import xml.etree.ElementTree as ElementTree

    package = ElementTree.parse(os.path.join(ROOT, "package.xml")).getroot()
    assert package.get("format") == "3" and package.findtext("name") == "rs_vla_guard"
    assert package.find("export/build_type").text == "ament_python"
    depends = {e.text for e in package.findall("exec_depend")}
    assert {"rclpy", "sensor_msgs", "geometry_msgs", "diagnostic_msgs", "std_msgs", "std_srvs"} <= depends
    setup = open(os.path.join(ROOT, "setup.py")).read()
    for script in ("rs-vla-guard", "guard_node", "sim_node", "attack_node"):
        module, function = re.search(rf'"{script} = ([\w.]+):(\w+)"', setup).groups()
        assert callable(getattr(importlib.import_module(module), function)), script
    assert os.path.exists(os.path.join(ROOT, "resource", "rs_vla_guard"))


def test_old_import_paths_and_module_commands_keep_working():
    import subprocess
    import sys

    from rs_vla_guard import certification, certify, config, params
    from rs_vla_guard.guard import Guard  # noqa: F401
    from rs_vla_guard.node import GuardNode, main  # noqa: F401
    from rs_vla_guard.ros import guard_node

    assert certify.certify_sequential is certification.certify_sequential
    assert config.effective is params.effective and config.twist_of(params.defaults(), "stop") == (0.0, 0.0)
    assert GuardNode is guard_node.GuardNode
    for module in ("rs_vla_guard.cli", "rs_vla_guard"):
        result = subprocess.run([sys.executable, "-m", module, "plan", "--radius", "0.25", "--p", "0.99", "--json"],
                                capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert result.returncode == 0 and '"samples_needed"' in result.stdout, result.stderr


def ros_imports():
    """Top-level ROS packages imported anywhere in the package and its launch files."""
    import ast
    import importlib.metadata
    import sys

    distributions = importlib.metadata.packages_distributions()
    found = set()
    for root in ("rs_vla_guard", "launch"):
        for folder, _, files in os.walk(os.path.join(ROOT, root)):
            for name in (f for f in files if f.endswith(".py")):
                tree = ast.parse(open(os.path.join(folder, name)).read())
                for node in ast.walk(tree):
                    modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                        [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
                    for module in modules:
                        top = module.split(".")[0]
                        if top in sys.stdlib_module_names or top == "rs_vla_guard":
                            continue
                        dists = distributions.get(top, [])
                        # ROS wheels are named ros-*; launch and launch_ros are not installed here (no wheel)
                        if any(d.startswith("ros-") for d in dists) or (root == "launch" and not dists):
                            found.add(top)
    return found


def test_package_xml_declares_exactly_the_ros_packages_the_code_imports():
    import xml.etree.ElementTree as ElementTree

    package = ElementTree.parse(os.path.join(ROOT, "package.xml")).getroot()
    declared = {e.text for e in package.findall("exec_depend") if not e.text.startswith("python3-")}
    imported = ros_imports()
    assert {"rclpy", "std_srvs", "launch_ros", "ament_index_python"} <= imported  # the reader works
    assert declared == imported, f"declared only: {declared - imported}; imported only: {imported - declared}"
