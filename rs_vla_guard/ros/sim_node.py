"""The simulation node: the MuJoCo arena of :mod:`rs_vla_guard.sim.world` as a ROS 2 robot, in sim time.

    ros2 run rs_vla_guard sim_node --ros-args -p episode_seed:=3 -p real_time_factor:=0.5

Every physics period (1 / ``camera_rate_hz`` of sim time) it applies the latest ``cmd_vel``, advances
the world, and publishes ``/clock``, ``odom`` (ground truth, nav_msgs/Odometry) and ``image``
(sensor_msgs/Image rgb8 stamped with sim time). Other nodes run with ``use_sim_time: true``, so the
guard's staleness checks and control rate follow the simulation, however fast it runs.

``episode`` (std_msgs/String, latched) carries the episode as JSON: seed, target colour, instruction,
blocks and start pose. A command older than ``command_timeout_s`` of sim time is treated as zero, as a
base controller would.
"""
from __future__ import annotations

import json
import math
import sys
import threading

import numpy as np
import rclpy
from geometry_msgs.msg import TwistStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image
from std_msgs.msg import String

from ..sim.world import World, random_episode
from ..tasks.blocks import instruction_for
from . import messages, qos
from .executors import run_paced, spin_with_worker


class SimNode(Node):
    def __init__(self):
        super().__init__("rs_vla_guard_sim")
        self.declare_parameter("episode_seed", 0)
        self.declare_parameter("camera_rate_hz", 10.0)
        self.declare_parameter("real_time_factor", 1.0)  # <= 0: as fast as possible
        self.declare_parameter("command_timeout_s", 0.5)
        self.declare_parameter("duration_s", 0.0)  # sim seconds to run; 0 = until shut down
        seed = self.get_parameter("episode_seed").value
        blocks, pose, target = random_episode(np.random.default_rng(seed))
        self.world = World()
        self.world.reset(blocks, pose)
        self.episode = {"seed": seed, "target": target, "instruction": instruction_for(target),
                        "blocks": [vars(b) for b in blocks], "start_pose": list(pose)}
        self._command = (0.0, 0.0, -math.inf)  # linear_x, angular_z, sim time received
        self._lock = threading.Lock()
        self.clock_pub = self.create_publisher(Clock, "/clock", qos.COMMANDS)
        self.image_pub = self.create_publisher(Image, "image", qos.SENSOR_DATA)
        self.odom_pub = self.create_publisher(Odometry, "odom", qos.COMMANDS)
        self.episode_pub = self.create_publisher(String, "episode", qos.LATCHED)
        self.create_subscription(TwistStamped, "cmd_vel", self._on_command, qos.COMMANDS)
        self.episode_pub.publish(String(data=json.dumps(self.episode)))
        self.done = threading.Event()

    def _on_command(self, msg: TwistStamped) -> None:
        linear_x, angular_z = messages.twist_of_msg(msg)
        with self._lock:
            self._command = (linear_x, angular_z, self.world.time)

    def run(self) -> None:
        """The simulation loop (its own thread, :func:`~.executors.run_paced`): a command older than
        ``command_timeout_s`` of sim time counts as zero."""
        timeout = self.get_parameter("command_timeout_s").value

        def advance(period: float) -> None:
            with self._lock:
                linear_x, angular_z, received = self._command
            if self.world.time - received > timeout:
                linear_x = angular_z = 0.0
            self.world.step(linear_x, angular_z, period)

        run_paced(self, advance, self._publish_state, lambda: self.world.time, self.world.close)

    def _publish_state(self) -> None:
        now = self.world.time
        stamp = messages.stamp_from_seconds(now)
        self.clock_pub.publish(Clock(clock=stamp))
        x, y, yaw = self.world.pose()
        odom = Odometry()
        odom.header.stamp, odom.header.frame_id, odom.child_frame_id = stamp, "odom", "base_link"
        odom.pose.pose.position.x, odom.pose.pose.position.y = x, y
        odom.pose.pose.orientation.z, odom.pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
        with self._lock:
            odom.twist.twist.linear.x, odom.twist.twist.angular.z = self._command[0], self._command[1]
        self.odom_pub.publish(odom)
        self.image_pub.publish(messages.image_msg(self.world.frame(), stamp, frame_id="camera"))


def main(args=None) -> None:
    rclpy.init(args=args if args is not None else sys.argv)
    node = SimNode()
    spin_with_worker(node, node.run, node.done, "sim_loop")


if __name__ == "__main__":
    main()
