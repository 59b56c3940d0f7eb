"""Errors shared across the package that the command line must name without importing torch."""


class PolicyError(RuntimeError):
    """The policy cannot be loaded or cannot run as configured (a clear error at configure time)."""


# What to install for each optional (or system) package the package imports, by its import name: the pip
# extra in a venv, the rosdep/apt key on a robot with ROS 2 from apt.
INSTALL_HINTS = {
    "rclpy": "ROS 2 Jazzy: on a robot `source /opt/ros/jazzy/setup.bash`; in a venv pip install '.[ros]'",
    "scipy": "pip install scipy; on a robot `rosdep install --from-paths src -y` (python3-scipy)",
    "cv2": "pip install opencv-python-headless; on a robot apt install python3-opencv",
    "yaml": "pip install pyyaml; on a robot apt install python3-yaml",
    "PIL": "pip install pillow; on a robot apt install python3-pil",
    "torch": "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu (or the CUDA wheel)",
    "transformers": "pip install 'transformers>=5.0' tokenizers safetensors",
    "mujoco": "pip install '.[sim]' (MuJoCo; headless rendering needs MUJOCO_GL=egl)",
    "rosbags": "pip install '.[replay]'",
    "pyarrow": "pip install '.[replay]' (LeRobot datasets)",
    "av": "pip install '.[replay]' (LeRobot datasets: PyAV)",
    "ray": "pip install '.[fleet]' (Ray)",
    "matplotlib": "pip install '.[bench]'",
    "mcap": "pip install '.[test]'",
    "mkdocs": "pip install '.[docs]'",
}


def missing_package(error: ModuleNotFoundError) -> str:
    """One line naming the missing package and how to install it."""
    name = (error.name or str(error)).split(".")[0]
    for prefix in ("std_msgs", "sensor_msgs", "geometry_msgs", "diagnostic_msgs", "nav_msgs", "trajectory_msgs",
                   "lifecycle_msgs", "std_srvs", "rcl_interfaces", "builtin_interfaces", "rosgraph_msgs"):
        if name == prefix:
            return (f"the ROS 2 message package {name} is missing: on a robot `apt install "
                    f"ros-jazzy-{name.replace('_', '-')}`; in a venv pip install '.[ros]'")
    hint = INSTALL_HINTS.get(name, f"pip install {name}")
    return f"the package {name!r} is missing: {hint}"
