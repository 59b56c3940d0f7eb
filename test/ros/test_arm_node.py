"""The guard in front of an arm, over ROS: a chunked policy's certified chunks go out as
trajectory_msgs/JointTrajectory (K points, joint names, time_from_start), and every stop as a hold at the
measured positions: stale image, e-stop, NaN robot state, a tube wider than its limit. The whole loop with
the simulated arm is in test_arm_loop.py (its own domain: this module's node would hold that arm too)."""
import functools
import json
import math
import time

import numpy as np
import pytest

import ros_harness as h
from rs_vla_guard.policies.builtin_arm import PARAMETERS, probes
from rs_vla_guard.sim.arm import HOME, JOINTS

DOMAIN = 71
pytestmark = [pytest.mark.ros, pytest.mark.model]
# Generous times: a decision of the built-in arm policy takes about a second on a slow, busy CPU.
NODE_PARAMS = {**PARAMETERS, "deadline_s": 20.0, "image_timeout_s": 4.0, "state_timeout_s": 4.0,
               "control_rate_hz": 1.0}


@functools.lru_cache(maxsize=None)
def shipped():
    """(frame, instruction) of a reach probe shipped with the built-in arm policy."""
    frames = probes()
    index = next(i for i, text in enumerate(frames.instructions) if "red" in text)
    return frames.frames[index], frames.instructions[index]


class ArmProbe:
    """The robot's side in the test process: camera frames and joint states out, trajectories in."""

    def __init__(self, probe):
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Bool
        from trajectory_msgs.msg import JointTrajectory

        from rs_vla_guard.ros.qos import COMMANDS

        self.probe = probe
        self.joint_pub = probe.node.create_publisher(JointState, "joint_states", qos_profile_sensor_data)
        self.estop_pub = probe.node.create_publisher(Bool, "estop", COMMANDS)
        self.trajectories = []
        probe.node.create_subscription(JointTrajectory, "joint_trajectory",
                                       lambda m: probe._add(self.trajectories, m), 50)
        self.positions = list(HOME)

    def publish(self, frame=True, positions=None):
        from sensor_msgs.msg import JointState

        def send():
            stamp = self.probe.now()
            if frame:
                self.probe.image_pub.publish(h.image_msg(shipped()[0], stamp))
            state = JointState(name=list(JOINTS), position=list(positions or self.positions))
            state.header.stamp = stamp
            self.joint_pub.publish(state)
        return send

    def since(self, start):
        with self.probe.lock:
            return [m for t, m in self.trajectories if t >= start]


def holds_at(trajectory, positions):
    point = trajectory.points[0]
    return (len(trajectory.points) == 1 and list(trajectory.joint_names) == list(JOINTS)
            and np.allclose(point.positions, positions, atol=1e-6) and list(point.velocities) == [0.0] * 4)


def _stop_with_hold(probe, arm, reason, since, timeout=60.0, publish=None):
    """The first certificate with ``reason`` after ``since`` and the trajectories that went out with stops."""
    assert probe.wait_for(lambda: reason in probe.reasons_since(since), timeout, publish=publish), \
        probe.reasons_since(since)
    probe.spin(0.3)
    stops = [m for m in arm.since(since) if len(m.points) == 1]
    assert stops, f"no hold on {reason}"
    return stops


@pytest.fixture(scope="module")
def arm_node(probe, tmp_path_factory):
    from std_msgs.msg import String

    folder = tmp_path_factory.mktemp("arm")
    probe.instruction_pub.publish(String(data=shipped()[1]))
    process = h.start_node(DOMAIN, h.write_params(folder / "arm.yaml", NODE_PARAMS), log_path=str(folder / "arm.log"))
    arm = ArmProbe(probe)
    yield arm, process, folder / "arm.log"
    h.stop_node(process)


def test_certified_chunks_go_out_as_joint_trajectories_of_k_points(probe, arm_node):
    arm, process, log = arm_node
    start = time.monotonic()
    assert probe.wait_for(lambda: "certified" in probe.reasons_since(start), 240, publish=arm.publish()), \
        (probe.reasons_since(start), open(log).read()[-3000:])
    probe.spin(0.3)
    values = next(v for _, _, v in reversed(probe.statuses_since(start)) if v["reason"] == "certified")
    chunk = json.loads(values["chunk"])
    chunks = [m for m in arm.since(start) if len(m.points) == PARAMETERS["chunk_execute_steps"]]
    assert chunks, [len(m.points) for m in arm.since(start)]
    sent = chunks[-1]
    assert list(sent.joint_names) == list(JOINTS) == chunk["joint_names"]
    offsets = [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in sent.points]
    assert np.allclose(offsets, [0.1 * (i + 1) for i in range(5)])
    assert sent.header.stamp.sec == 0 and sent.header.stamp.nanosec == 0  # start now: replaces the last chunk
    assert list(sent.points[-1].velocities) == [0.0] * 4  # the chunk ends at rest
    # what went out is a certified chunk: each waypoint inside its tube (the last certificate's may be newer)
    certified = [json.loads(v["chunk"]) for _, _, v in probe.statuses_since(start) if v["reason"] == "certified"]
    match = [c for c in certified if np.allclose(c["waypoints"], [p.positions for p in sent.points])]
    assert match, "the trajectory is no certified chunk"
    tube = np.asarray(match[-1]["tube"], dtype=float)
    waypoints = np.asarray(match[-1]["waypoints"])
    assert ((waypoints >= tube[..., 0] - 1e-9) & (waypoints <= tube[..., 1] + 1e-9)).all()
    assert process.poll() is None


def test_every_stop_holds_at_the_measured_position(probe, arm_node):
    arm, process, log = arm_node
    measured = [0.1, 0.45, 1.5, 1.1]
    arm.positions = measured
    start = time.monotonic()  # frames flow and decisions certify at the measured positions first
    assert probe.wait_for(lambda: "certified" in probe.reasons_since(start), 240, publish=arm.publish()), \
        probe.reasons_since(start)
    # stale image: joint states keep coming, frames stop
    since = time.monotonic()
    for hold in _stop_with_hold(probe, arm, "stale_image", since, publish=arm.publish(frame=False)):
        assert holds_at(hold, measured), hold
    # e-stop, engaged while everything else is fresh
    from std_msgs.msg import Bool

    since = time.monotonic()
    arm.estop_pub.publish(Bool(data=True))
    for hold in _stop_with_hold(probe, arm, "estop", since, publish=arm.publish()):
        assert holds_at(hold, measured)
    arm.estop_pub.publish(Bool(data=False))
    # a NaN in the robot state: the hold is at the last positions that were measured
    since = time.monotonic()
    broken = [math.nan] + measured[1:]
    for hold in _stop_with_hold(probe, arm, "invalid_state", since, publish=arm.publish(positions=broken)):
        assert holds_at(hold, measured)
    # a tube limit no decision can meet, set at run time
    results = h.set_parameters(probe, chunk_tube_limits="*: 0.0001")
    assert results and all(ok for ok, _ in results), results
    since = time.monotonic()
    for hold in _stop_with_hold(probe, arm, "chunk_too_wide", since, timeout=240, publish=arm.publish()):
        assert holds_at(hold, measured)
    detail = next(v for _, _, v in probe.statuses_since(since) if v["reason"] == "chunk_too_wide")["detail"]
    assert "wide, limit 0.0001" in detail
    # never an empty trajectory, and the node kept running through all of it
    assert all(len(m.points) >= 1 for m in arm.since(0))
    assert process.poll() is None, open(log).read()[-2000:]
    h.set_parameters(probe, chunk_tube_limits=PARAMETERS["chunk_tube_limits"])
