"""`rs-vla-guard demo` end to end: four processes (camera, instruction, guard node, monitor) on ROS 2."""
import os
import re
import subprocess
import sys

import pytest

import ros_harness as h
from paths import ROOT

pytestmark = [pytest.mark.ros, pytest.mark.model]


def test_demo_runs_to_completion_privately_and_shows_certified_steps_and_stops():
    # The caller's shell is on domain 63, as a robot's might be: the demo must not be heard there.
    h.use_domain(63)
    import rclpy
    from geometry_msgs.msg import TwistStamped

    rclpy.init()
    listener = rclpy.create_node("robot_base")
    heard = []
    for topic in ("/cmd_vel", "/rs_vla_guard_demo/cmd_vel", "cmd_vel"):
        listener.create_subscription(TwistStamped, topic, heard.append, 10)
    env = dict(os.environ, ROS_DOMAIN_ID="63", ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    demo = subprocess.Popen([sys.executable, "-m", "rs_vla_guard", "demo"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while demo.poll() is None:
            rclpy.spin_once(listener, timeout_sec=0.1)
        out, err = demo.communicate(timeout=240)
    finally:
        if demo.poll() is None:
            demo.kill()
        listener.destroy_node()
        rclpy.shutdown()
    assert demo.returncode == 0, out[-3000:] + err[-3000:]
    assert not heard, f"{len(heard)} demo commands reached the caller's domain"
    assert "ROS domain 57" in out and "/rs_vla_guard_demo" in out
    decisions = re.search(r"decisions published: (\d+)\s+certified: (\d+)", out)
    assert decisions, out[-2000:]
    published, certified = map(int, decisions.groups())
    assert published >= 100 and certified >= 40  # ~30 s at 5 Hz, most clean steps certified
    for action in ("turn_left", "move_forward", "turn_right"):
        assert re.search(rf"{action}\s+certified=true", out), action
    assert "stale_image" in out  # the camera dropout
    assert re.search(r"reason=(below_threshold|abstain)", out)  # the corruption burst is refused
    # the summary explains its stops: the dropout's per part of the script, and what each reason means
    dropout = re.search(r"15-17 s, camera dropout \(scripted fault\): (\{.*\})", out)
    assert dropout and "stale_image" in dropout.group(1), out[-2000:]
    assert "stale_image: the latest frame is older than image_timeout_s" in out
