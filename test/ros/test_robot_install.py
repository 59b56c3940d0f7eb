"""The README's robot install route, as far as this machine allows: a venv made with
``--system-site-packages``, the package built into an install tree the way ``colcon build`` builds an
ament_python package from that venv, the entry points where ``ros2 run`` looks for them, and the
installed ``guard_node`` started with ``--ros-args --params-file`` on the installed guard.yaml.

What this machine lacks is apt ROS: its part (rclpy and the message packages, which ``source
/opt/ros/jazzy/setup.bash`` puts on the path on a robot) is played by this repository's own venv, made
visible to the new venv through a .pth file, together with the pip packages (torch, transformers) the
README installs into the venv.
"""
import os
import shutil
import site
import subprocess
import sys

import pytest

import ros_harness as h
from paths import ROOT
from rs_vla_guard.tasks import blocks

pytestmark = [pytest.mark.ros, pytest.mark.model]

DOMAIN = 69


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("robot")
    venv, source, build, prefix = work / "venv", work / "src" / "rs_vla_guard", work / "build", work / "install"
    subprocess.run([sys._base_executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    (venv / "COLCON_IGNORE").touch()
    python = venv / "bin" / "python"
    venv_site = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                               capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(venv_site, "apt_ros_and_pip.pth"), "w") as handle:  # stands for apt ROS + pip installs
        handle.write(f"import site; site.addsitedir({site.getsitepackages()[0]!r})\n")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "build", "install", "log",
                                                                "__pycache__", "*.egg-info", ".hypothesis"))
    build.mkdir()
    # What colcon's ament_python build runs, with the venv's python (README: `python -m colcon build`).
    result = subprocess.run([str(python), "setup.py", "egg_info", "--egg-base", str(build), "build", "--build-base",
                             str(build), "install", "--prefix", str(prefix / "rs_vla_guard"), "--record",
                             str(build / "install.log"), "--single-version-externally-managed"],
                            cwd=source, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    package = prefix / "rs_vla_guard"
    site_packages = next(package.glob("lib/python3*/site-packages"))
    return {"package": package, "python": python, "env": {"PYTHONPATH": str(site_packages)}}


def test_entry_points_and_shared_files_land_where_ros2_run_and_launch_look(installed):
    package, python = installed["package"], installed["python"]
    for script in ("guard_node", "sim_node", "attack_node", "rs-vla-guard"):
        path = package / "lib" / "rs_vla_guard" / script
        assert path.exists() and os.access(path, os.X_OK), script
        assert path.read_text().splitlines()[0] == f"#!{python}", "scripts must run with the venv's python"
    share = package / "share" / "rs_vla_guard"
    for name in ("package.xml", "launch/guard.launch.py", "config/guard.yaml", "config/lifecycle_manager.yaml",
                 "worlds/arena.sdf"):
        assert (share / name).exists(), name
    assert (package / "share" / "ament_index" / "resource_index" / "packages" / "rs_vla_guard").exists()


def test_the_installed_cli_runs_as_ros2_run_would_run_it(installed):
    result = subprocess.run([str(installed["package"] / "lib" / "rs_vla_guard" / "rs-vla-guard"), "plan",
                             "--radius", "0.25", "--p", "0.99", "--json"],
                            env={**os.environ, **installed["env"]}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and '"samples_needed": 46' in result.stdout, result.stderr[-2000:]


def test_the_installed_guard_node_starts_from_its_params_file_and_certifies(installed, tmp_path):
    h.use_domain(DOMAIN)
    import rclpy
    from std_msgs.msg import String

    package = installed["package"]
    log = tmp_path / "node.log"
    process = h.start_node(DOMAIN, str(package / "share" / "rs_vla_guard" / "config" / "guard.yaml"),
                           script=str(package / "lib" / "rs_vla_guard" / "guard_node"), log_path=str(log),
                           env=installed["env"])
    rclpy.init()
    probe = h.Probe()
    try:
        frame = blocks.render(blocks.Scene([blocks.Block("red", 0.15, 0.2)]))
        probe.instruction_pub.publish(String(data="go to the red block"))
        certified = lambda: "certified" in probe.reasons_since(0)  # noqa: E731
        assert probe.wait_for(certified, 120, publish=lambda: probe.image_pub.publish(h.image_msg(frame, probe.now()))), \
            log.read_text()[-3000:]
    finally:
        h.stop_node(process)
        probe.destroy()
        rclpy.shutdown()
