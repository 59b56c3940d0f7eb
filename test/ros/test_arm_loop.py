"""The whole arm loop over ROS: the arm world as a ROS arm and its joint_trajectory_controller
(arm_sim_node, in sim time) follows the guard's trajectories to the named block. Its own ROS domain:
any other guard on the domain would hold the arm at its measured positions."""
import json
import time

import numpy as np
import pytest

import ros_harness as h
from rs_vla_guard.policies.builtin_arm import PARAMETERS

DOMAIN = 72
pytestmark = [pytest.mark.ros, pytest.mark.model, pytest.mark.sim]
# Generous times: a decision of the built-in arm policy takes about a second on a slow, busy CPU.
NODE_PARAMS = {**PARAMETERS, "deadline_s": 20.0, "control_rate_hz": 1.0, "use_sim_time": True,
               "image_timeout_s": 1.0, "state_timeout_s": 1.0}


def test_the_arm_follows_the_guards_trajectories_towards_the_block(probe, tmp_path):
    """arm_sim_node plays the arm and its controller; the guard runs on its clock (use_sim_time)."""
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String

    episodes, states = [], []
    probe.node.create_subscription(String, "episode", lambda m: probe._add(episodes, json.loads(m.data)),
                                   h.latched_qos())
    from rclpy.qos import qos_profile_sensor_data

    probe.node.create_subscription(JointState, "joint_states", lambda m: probe._add(states, list(m.position)),
                                   qos_profile_sensor_data)
    sim = h.start_node(DOMAIN, module="rs_vla_guard.ros.arm_sim_node", log_path=str(tmp_path / "sim.log"),
                       extra=["-p", "episode_seed:=1", "-p", "real_time_factor:=0.1"], env={"MUJOCO_GL": "egl"})
    guard = None
    try:
        assert probe.wait_for(lambda: episodes, 60), open(tmp_path / "sim.log").read()[-2000:]
        probe.instruction_pub.publish(String(data=episodes[-1][1]["instruction"]))
        guard = h.start_node(DOMAIN, h.write_params(tmp_path / "loop.yaml", NODE_PARAMS),
                             log_path=str(tmp_path / "g.log"))
        start = time.monotonic()
        reached = lambda: any(episode.get("reached") for _, episode in episodes)  # noqa: E731
        assert probe.wait_for(reached, 420), (probe.reasons_since(start), open(tmp_path / "g.log").read()[-2000:])
        assert "certified" in probe.reasons_since(start)
        with probe.lock:
            first, last = np.asarray(states[0][1]), np.asarray(states[-1][1])
        assert np.abs(last - first).max() > 0.05, (first, last)  # the arm moved where the chunks said
        assert sim.poll() is None and guard.poll() is None
    finally:
        if guard is not None:
            h.stop_node(guard)
        h.stop_node(sim)
