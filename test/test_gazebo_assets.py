"""Gazebo assets for users (Gazebo cannot run here): the world, the bridge and the launch file must agree
with each other, with the guard's interface and with the MuJoCo arena the tests drive."""
import ast
import math
import os
import xml.etree.ElementTree as ET

import pytest
import yaml

from rs_vla_guard import params as config
from rs_vla_guard.tasks import blocks as scenes

from paths import ROOT
WORLD = ET.parse(os.path.join(ROOT, "worlds", "arena.sdf")).getroot()
BRIDGE = yaml.safe_load(open(os.path.join(ROOT, "config", "gz_bridge.yaml")))
BY_ROS_TOPIC = {entry["ros_topic_name"]: entry for entry in BRIDGE}


def launch_arguments_of_guard():
    """The launch_arguments dict the Gazebo launch file passes to guard.launch.py (read, not run)."""
    tree = ast.parse(open(os.path.join(ROOT, "launch", "gazebo_sim.launch.py")).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "guard":
            call = node.value
            keywords = {k.arg: k.value for k in call.keywords}
            pairs = keywords["launch_arguments"].func.value  # {...}.items()
            return {ast.literal_eval(k): (ast.literal_eval(v) if isinstance(v, ast.Constant) else None)
                    for k, v in zip(pairs.keys, pairs.values)}
    raise AssertionError("no guard include in gazebo_sim.launch.py")


def test_world_declares_camera_drive_and_sensors_system():
    assert WORLD.get("version") >= "1.9"
    plugins = {p.get("name") for p in WORLD.iter("plugin")}
    assert {"gz::sim::systems::Physics", "gz::sim::systems::Sensors", "gz::sim::systems::DiffDrive"} <= plugins
    camera = next(s for s in WORLD.iter("sensor") if s.get("type") == "camera")
    assert camera.findtext("topic") == "/camera/image"
    assert float(camera.findtext("update_rate")) >= 10
    assert (int(camera.findtext("camera/image/width")), int(camera.findtext("camera/image/height"))) == (160, 120)
    drive = next(p for p in WORLD.iter("plugin") if p.get("name") == "gz::sim::systems::DiffDrive")
    assert drive.findtext("topic") == "/cmd_vel" and drive.findtext("odom_topic") == "/odom"
    joints = {j.get("name") for j in WORLD.iter("joint")}
    assert {drive.findtext("left_joint"), drive.findtext("right_joint")} <= joints


def test_world_matches_the_mujoco_arena_camera_and_block_colours():
    mjcf = ET.parse(os.path.join(ROOT, "rs_vla_guard", "sim", "assets", "arena.xml")).getroot()
    fovy = math.radians(float(next(c for c in mjcf.iter("camera") if c.get("name") == "front").get("fovy")))
    horizontal = 2 * math.atan(math.tan(fovy / 2) * 160 / 120)
    camera = next(s for s in WORLD.iter("sensor") if s.get("type") == "camera")
    assert float(camera.findtext("camera/horizontal_fov")) == pytest.approx(horizontal, abs=0.01)
    for colour in scenes.TARGET_COLOURS:
        model = next(m for m in WORLD.iter("model") if m.get("name") == f"block_{colour}")
        diffuse = [float(v) for v in model.find(".//visual/material/diffuse").text.split()][:3]
        assert diffuse == pytest.approx(list(scenes.COLOURS[colour]), abs=0.01)


def test_bridge_connects_what_the_world_and_the_guard_use():
    camera = next(s for s in WORLD.iter("sensor") if s.get("type") == "camera").findtext("topic")
    drive = next(p for p in WORLD.iter("plugin") if p.get("name") == "gz::sim::systems::DiffDrive")
    guard = launch_arguments_of_guard()
    image = BY_ROS_TOPIC[guard["image_topic"]]
    assert (image["gz_topic_name"], image["direction"], image["ros_type_name"]) == (
        camera, "GZ_TO_ROS", "sensor_msgs/msg/Image")
    command = BY_ROS_TOPIC[guard["cmd_vel_topic"]]
    stamped = config.defaults()["use_stamped"]
    assert command["gz_topic_name"] == drive.findtext("topic") and command["direction"] == "ROS_TO_GZ"
    assert command["ros_type_name"] == ("geometry_msgs/msg/TwistStamped" if stamped else "geometry_msgs/msg/Twist")
    assert BY_ROS_TOPIC["/clock"]["direction"] == "GZ_TO_ROS" and guard["use_sim_time"] == "true"
    assert BY_ROS_TOPIC["/odom"]["gz_topic_name"] == drive.findtext("odom_topic")


def test_package_installs_the_world_bridge_config_and_launch_files():
    setup = open(os.path.join(ROOT, "setup.py")).read()
    assert 'glob("worlds/*.sdf")' in setup and 'glob("config/*.yaml")' in setup
    for name in ("guard.launch.py", "gazebo_sim.launch.py", "mujoco_sim.launch.py"):
        compile(open(os.path.join(ROOT, "launch", name)).read(), name, "exec")


def test_every_launched_executable_of_this_package_is_a_console_script():
    setup = open(os.path.join(ROOT, "setup.py")).read()
    for name in os.listdir(os.path.join(ROOT, "launch")):
        tree = ast.parse(open(os.path.join(ROOT, "launch", name)).read())
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            keywords = {k.arg: k.value for k in call.keywords}
            package, executable = keywords.get("package"), keywords.get("executable")
            if isinstance(package, ast.Constant) and package.value == "rs_vla_guard":
                assert f'"{executable.value} = rs_vla_guard.' in setup, (name, executable.value)
