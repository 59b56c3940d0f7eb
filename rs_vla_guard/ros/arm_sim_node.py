"""The arm simulation node: the arm world of :mod:`rs_vla_guard.sim.arm` as a ROS 2 arm, in sim time.

    ros2 run rs_vla_guard arm_sim_node --ros-args -p episode_seed:=3 -p real_time_factor:=0.5

It plays the arm and its joint_trajectory_controller: ``joint_trajectory`` (trajectory_msgs/
JointTrajectory, positions, a zero stamp = start now) replaces the trajectory being followed, from the
position reached, by linear interpolation; after the last point the arm holds it. Every camera period
(1 / ``camera_rate_hz`` of sim time) it publishes ``/clock``, ``joint_states`` (sensor_msgs/JointState)
and ``image`` (sensor_msgs/Image rgb8, the top camera, stamped with sim time). Other nodes run with
``use_sim_time: true``.

``episode`` (std_msgs/String, latched) carries the episode as JSON: seed, target colour, instruction,
blocks, start pose, and (updated every period) whether the tip has reached the named block.
"""
from __future__ import annotations

import json
import sys
import threading

import numpy as np
import rclpy
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from ..sim import arm
from . import messages, qos
from .executors import run_paced, spin_with_worker


class ArmSimNode(Node):
    def __init__(self):
        super().__init__("rs_vla_guard_arm_sim")
        self.declare_parameter("episode_seed", 0)
        self.declare_parameter("camera_rate_hz", 10.0)
        self.declare_parameter("real_time_factor", 1.0)  # <= 0: as fast as possible
        self.declare_parameter("duration_s", 0.0)  # sim seconds to run; 0 = until shut down
        seed = self.get_parameter("episode_seed").value
        rng = np.random.default_rng(seed)
        blocks, target = arm.random_scene(rng, absent_fraction=0.0)
        start = arm.random_start(rng, spread=0.2)
        self.world = arm.ArmWorld()
        self.world.reset(blocks, start)
        self.follower = arm.TrajectoryFollower(start, self.world.time)
        self.episode = {"seed": seed, "target": target, "instruction": arm.instruction_for(target),
                        "blocks": [vars(b) for b in blocks], "start": [float(v) for v in start],
                        "joints": list(arm.JOINTS), "reached": False}
        self.trajectories = 0
        self._lock = threading.Lock()
        self.clock_pub = self.create_publisher(Clock, "/clock", qos.COMMANDS)
        self.image_pub = self.create_publisher(Image, "image", qos.SENSOR_DATA)
        self.joint_pub = self.create_publisher(JointState, "joint_states", qos.SENSOR_DATA)
        self.episode_pub = self.create_publisher(String, "episode", qos.LATCHED)
        self.create_subscription(JointTrajectory, "joint_trajectory", self._on_trajectory, qos.COMMANDS)
        self.episode_pub.publish(String(data=json.dumps(self.episode)))
        self.done = threading.Event()

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        """A new trajectory from now, its joints reordered to the arm's; one naming other joints is ignored,
        as the controller rejects it."""
        try:
            order = [list(msg.joint_names).index(name) for name in arm.JOINTS]
        except ValueError:
            self.get_logger().warning(f"ignored a trajectory for joints {list(msg.joint_names)}")
            return
        if not msg.points:
            return
        offsets = [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in msg.points]
        points = [[p.positions[i] for i in order] for p in msg.points]
        with self._lock:
            self.follower.replace(self.world.time, offsets, points)
            self.trajectories += 1

    def run(self) -> None:
        """The simulation loop (its own thread, :func:`~.executors.run_paced`)."""
        def advance(period: float) -> None:
            with self._lock:
                self.world.track(self.follower, period)

        run_paced(self, advance, self._publish_state, lambda: self.world.time, self.world.close)

    def _publish_state(self) -> None:
        stamp = messages.stamp_from_seconds(self.world.time)
        self.clock_pub.publish(Clock(clock=stamp))
        state = JointState(name=list(arm.JOINTS), position=[float(v) for v in self.world.joints()])
        state.header.stamp = stamp
        self.joint_pub.publish(state)
        self.image_pub.publish(messages.image_msg(self.world.frame(), stamp, frame_id="camera"))
        reached = self.world.reached(self.episode["target"])
        if reached and not self.episode["reached"]:
            self.episode["reached"] = True
            self.episode["reached_at_s"] = round(self.world.time, 2)
            self.episode_pub.publish(String(data=json.dumps(self.episode)))


def main(args=None) -> None:
    rclpy.init(args=args if args is not None else sys.argv)
    node = ArmSimNode()
    spin_with_worker(node, node.run, node.done, "arm_sim_loop")


if __name__ == "__main__":
    main()
