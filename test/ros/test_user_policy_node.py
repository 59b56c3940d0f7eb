"""The guard node with a user's own policy module, named in a params file, in its own process (as a team
plugs in its LeRobot or custom policy): robot state from joint_states or an array, stale_state stops,
cmd_vel for a base, a labelled action_vector for an arm."""
import os
import time

import pytest
import torch

import ros_harness as h
from guard_test_policies import StatefulRedSeeker
from paths import TEST_DIR
from rs_vla_guard import actions
from rs_vla_guard.sampling import frame_to_input
from rs_vla_guard.tasks import blocks

pytestmark = [pytest.mark.ros, pytest.mark.model]

DOMAIN = 70
LEFT = blocks.render(blocks.Scene([blocks.Block("red", 0.15, 0.25)]))
USER_POLICIES = {"PYTHONPATH": os.path.join(TEST_DIR, "user_policies")}


def test_a_base_policy_of_the_users_own_certifies_drives_and_stops_when_joint_states_stop(probe, tmp_path):
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String

    overrides = {"policy": "python:guard_test_policies:stateful_red_seeker", "state_joints": "joint_a, joint_b",
                 "continuous_command": "clean", "state_timeout_s": 0.5}
    log = tmp_path / "node.log"
    process = h.start_node(DOMAIN, h.write_params(tmp_path / "user.yaml", overrides), log_path=str(log),
                           env=USER_POLICIES)
    joints = probe.node.create_publisher(JointState, "joint_states", 10)
    streaming = [True]

    def publish():
        probe.image_pub.publish(h.image_msg(LEFT, probe.now()))
        if streaming[0]:
            joints.publish(JointState(name=["joint_c", "joint_b", "joint_a"], position=[9.0, 0.0, 0.25]))
    try:
        probe.instruction_pub.publish(String(data="go to the red block"))
        assert probe.wait_for(lambda: "certified" in probe.reasons_since(0), 120, publish=publish), \
            log.read_text()[-3000:]
        probe.spin(0.3)
        values = next(v for _, a, v in reversed(probe.statuses_since(0)) if v["reason"] == "certified")
        # its own yaw on the clean frame (slowed by joint_a = 0.25), not the table's 0.6: clean, in turn_left's bin
        own = StatefulRedSeeker("cpu").act(torch.from_numpy(frame_to_input(LEFT, (32, 32)))[None], "go to the red block",
                                           state=torch.tensor([[0.25, 0.0]]))[0, 0]
        assert float(values["angular_z"]) == pytest.approx(float(own[1]), abs=1e-4) != 0.6
        assert values["candidate"] == "turn_left" and float(values["linear_x"]) <= 0.2
        probe.wait_for(lambda: False, 0.5, publish=publish)  # the state streams right up to the cut
        streaming[0] = False
        since = time.monotonic()
        assert probe.wait_for(lambda: "stale_state" in probe.reasons_since(since), 10, publish=publish)
        first = next(t for t, _, v in probe.statuses_since(since) if v["reason"] == "stale_state")
        # state_timeout_s, then a few control periods (generous for a busy CPU: the exact rule is the control
        # core's, tested with a fake clock)
        assert first - since <= 0.5 + 3.0
        probe.wait_for(lambda: False, 2.0, publish=publish)
        timeline = [(round(t - since, 2), v["reason"]) for t, _, v in probe.statuses_since(since)]
        assert first - since >= 0.5 - 0.2, timeline  # not before the state is actually stale
        assert set(probe.reasons_since(since + 1.2)) == {"stale_state"} and process.poll() is None, timeline
        streaming[0] = True
        since = time.monotonic()
        assert probe.wait_for(lambda: "certified" in probe.reasons_since(since), 10, publish=publish)
    finally:
        h.stop_node(process)


def test_an_arm_policy_publishes_its_labelled_action_vector_and_holds_on_every_stop(probe, tmp_path):
    from std_msgs.msg import Float32MultiArray, String

    overrides = {"policy": "python:guard_test_policies:red_reacher", "binning": "arm",
                 "actions": list(actions.ARM_ACTIONS), "safe_action": "hold",
                 "action_dimensions": list(actions.ARM_DIMENSIONS)}
    log = tmp_path / "node.log"
    process = h.start_node(DOMAIN, h.write_params(tmp_path / "arm.yaml", overrides), log_path=str(log),
                           env=USER_POLICIES)
    state = probe.node.create_publisher(Float32MultiArray, "state", 10)
    vectors = []
    probe.node.create_subscription(Float32MultiArray, "action_vector", lambda m: probe._add(vectors, m), 50)

    def publish():
        probe.image_pub.publish(h.image_msg(LEFT, probe.now()))
        state.publish(Float32MultiArray(data=[0.1, 0.2, 0.3]))
    try:
        probe.instruction_pub.publish(String(data="go to the red block"))
        moving = lambda: any(abs(m.data[1] - 0.05) < 1e-6 for _, m in vectors)  # noqa: E731
        assert probe.wait_for(moving, 120, publish=publish), log.read_text()[-3000:]
        message = next(m for _, m in vectors if abs(m.data[1] - 0.05) < 1e-6)
        assert message.layout.dim[0].label == "ee_x,ee_y,ee_z,gripper" and list(message.data)[::2] == [0.0, 0.0]
        assert "move_y_pos" in [a for _, a in probe.actions]
        with probe.lock:
            assert all(m.twist.linear.x == m.twist.angular.z == 0.0 for _, m in probe.twists)  # an arm: no twist
        probe.instruction_pub.publish(String(data="stop"))
        since = time.monotonic()
        assert probe.wait_for(lambda: "hold" in [a for t, a in probe.actions if t >= since], 10, publish=publish)
        probe.wait_for(lambda: False, 1.0, publish=publish)
        late = [m for t, m in vectors if t >= since + 0.6]
        assert late and all(list(m.data) == [0.0, 0.0, 0.0, 0.0] for m in late)
        assert process.poll() is None
    finally:
        h.stop_node(process)


def test_a_continuous_policy_publishes_its_certified_envelopes_and_stops_when_a_narrowed_limit_is_not_met(
        probe, tmp_path):
    import json

    from std_msgs.msg import String

    overrides = {"policy": "python:guard_test_policies:red_seeker", "continuous_command": "median",
                 "certify_target": "both", "envelope_limits": "angular_z: 5.0"}
    log = tmp_path / "node.log"
    process = h.start_node(DOMAIN, h.write_params(tmp_path / "envelopes.yaml", overrides), log_path=str(log),
                           env=USER_POLICIES)

    def publish():
        probe.image_pub.publish(h.image_msg(LEFT, probe.now()))
    try:
        probe.instruction_pub.publish(String(data="go to the red block"))
        assert probe.wait_for(lambda: "certified" in probe.reasons_since(0), 120, publish=publish), \
            log.read_text()[-3000:]
        values = next(v for _, a, v in reversed(probe.statuses_since(0)) if v["reason"] == "certified")
        envelopes = json.loads(values["envelopes"])
        low, high = envelopes["angular_z"]
        assert set(envelopes) == {"linear_x", "angular_z"} and 0 < low <= float(values["angular_z"]) <= high
        assert high - low <= 5.0
        refused = h.set_parameters(probe, envelope_limits="angular_z: 6.0")  # wider: looser, refused
        assert not refused[0][0] and "may only narrow" in refused[0][1], refused
        assert h.set_parameters(probe, envelope_limits="angular_z: 0.000001")[0][0]
        since = time.monotonic()
        assert probe.wait_for(lambda: "envelope_too_wide" in probe.reasons_since(since), 10, publish=publish)
        probe.wait_for(lambda: False, 1.0, publish=publish)
        later = [v for t, _, v in probe.statuses_since(since + 0.5)]
        assert later and all(v["reason"] == "envelope_too_wide" and v["linear_x"] == v["angular_z"] == "0"
                             for v in later), [v["reason"] for v in later]
        assert process.poll() is None
    finally:
        h.stop_node(process)


def test_a_runtime_change_the_policy_cannot_run_is_refused_and_the_node_keeps_certifying(probe, tmp_path):
    """An envelope limit on a dimension the policy does not have: valid on its own, impossible for this policy.
    The parameter service refuses it with the reason; the node never stops deciding with its old settings."""
    from std_msgs.msg import String

    log = tmp_path / "node.log"
    process = h.start_node(DOMAIN, h.write_params(tmp_path / "seeker.yaml", {
        "policy": "python:guard_test_policies:red_seeker", "continuous_command": "median"}), log_path=str(log),
        env=USER_POLICIES)
    publish = lambda: probe.image_pub.publish(h.image_msg(LEFT, probe.now()))  # noqa: E731
    try:
        probe.instruction_pub.publish(String(data="go to the red block"))
        assert probe.wait_for(lambda: "certified" in probe.reasons_since(0), 120, publish=publish), \
            log.read_text()[-3000:]
        [(accepted, reason)] = h.set_parameters(probe, envelope_limits="angular_zz: 0.3")
        assert not accepted and "angular_zz" in reason and "action dimensions" in reason, reason
        [(accepted, _)] = h.set_parameters(probe, envelope_limits="angular_z: 5.0")  # one it has: accepted
        assert accepted
        since = time.monotonic()
        probe.wait_for(lambda: False, 2.0, publish=publish)
        reasons = probe.reasons_since(since)
        assert reasons and "policy_error" not in reasons and "certified" in reasons, reasons
        assert process.poll() is None
    finally:
        h.stop_node(process)
