"""The attack node: sits between the camera and the guard and perturbs every frame inside an L2 budget.

    ros2 run rs_vla_guard attack_node --ros-args -p attack:=pgd -p eps:=0.25 \
        -r image_in:=/camera/image_raw -r image:=/guard/image

Subscribes ``image_in`` (the camera) and ``instruction``; publishes ``image`` (the perturbed frame at the
policy's input size, rgb8, with the camera's header, so the guard sees exactly the attacked pixels) and
``attack`` (std_msgs/String JSON per frame: attack, eps, achieved L2, frame stamp). Attacks and their
budgets are those of :class:`rs_vla_guard.attacks.Attacker`, the simulator's too; ``pgd`` loads the same
policy as the guard (a white-box attacker). Only the latest camera frame is attacked; frames that arrive
meanwhile are dropped.
"""
from __future__ import annotations

import json
import sys
import threading

import rclpy
import torch
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String

from ..attacks import Attacker, attack_objective
from ..guard import Guard
from ..sampling import frame_to_input
from . import messages, qos
from .executors import spin_with_worker


class AttackNode(Node):
    def __init__(self):
        super().__init__("rs_vla_guard_attack")
        self.attacker = Attacker(
            self.declare_parameter("attack", "noise").value, float(self.declare_parameter("eps", 0.25).value),
            pgd_steps=int(self.declare_parameter("pgd_steps", 10).value),
            # any wrong motion, "harmful", or "yaw" (the largest change of a continuous policy's executed yaw)
            pgd_aim=str(self.declare_parameter("pgd_aim", "any").value),
            seed=int(self.declare_parameter("seed", 0).value))
        policy = self.declare_parameter("policy", "builtin").value
        # The attacker's copy of the policy (no sensitivity check: it is only differentiated).
        self.guard = Guard.from_config({"policy": policy, "allow_blind_policy": True}, check=False)
        self.instruction = None
        self._latest = None
        self._wake = threading.Event()
        self.image_pub = self.create_publisher(Image, "image", qos.SENSOR_DATA)
        self.report_pub = self.create_publisher(String, "attack", qos.COMMANDS)
        self.create_subscription(Image, "image_in", self._on_image, qos.SENSOR_DATA)
        self.create_subscription(String, "instruction", self._on_instruction, qos.LATCHED)
        self.stopping = threading.Event()

    def _on_image(self, msg: Image) -> None:
        self._latest = msg
        self._wake.set()

    def _on_instruction(self, msg: String) -> None:
        self.instruction = msg.data

    def perturb(self, msg: Image):
        frame = messages.frame_from_image_msg(msg)
        clean = torch.from_numpy(frame_to_input(frame, self.guard.policy.input_size))
        scores = None
        if self.attacker.attack == "pgd":
            scores = attack_objective(self.guard, self.instruction or "go to the red block", self.attacker.pgd_aim)
        return self.attacker.perturb(clean, scores=scores, actions=self.guard.actions,
                                     safe_action=self.guard.params["safe_action"])

    def loop(self) -> None:
        while not self.stopping.is_set():
            if not self._wake.wait(0.1):
                continue
            self._wake.clear()
            msg = self._latest
            try:
                frame, achieved = self.perturb(msg)
            except messages.InvalidImage as error:
                self.get_logger().warning(f"frame not attacked (dropped): {error}")
                continue
            out = messages.image_msg(frame)
            out.header = msg.header
            self.image_pub.publish(out)
            self.report_pub.publish(String(data=json.dumps({
                "attack": self.attacker.attack, "eps": self.attacker.eps, "l2": round(achieved, 5),
                "stamp": messages.stamp_seconds(msg.header.stamp)})))


def main(args=None) -> None:
    rclpy.init(args=args if args is not None else sys.argv)
    node = AttackNode()
    spin_with_worker(node, node.loop, node.stopping, "attacks")


if __name__ == "__main__":
    main()
