"""The attack node: sits between the camera and the guard and perturbs every frame inside an L2 budget.

    python -m rs_vla_guard.attack_node --ros-args -p attack:=pgd -p eps:=0.25 \
        -r image_in:=/camera/image_raw -r image:=/guard/image

Subscribes ``image_in`` (the camera) and ``instruction``; publishes ``image`` (the perturbed frame at the
policy's input size, rgb8, with the camera's header, so the guard sees exactly the attacked pixels) and
``attack`` (std_msgs/String JSON per frame: attack, eps, achieved L2, frame stamp). Attacks and their
budgets are those of :mod:`rs_vla_guard.attacks`; ``pgd`` loads the same policy as the guard (a
white-box attacker). Only the latest camera frame is attacked; frames that arrive meanwhile are dropped.
"""
from __future__ import annotations

import json
import sys
import threading

import rclpy
import torch
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import String

from . import attacks
from .node import spin_with_worker
from .sampling import frame_to_input
from .sources import InvalidImage, frame_from_image_msg, stamp_seconds

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


class AttackNode(Node):
    def __init__(self):
        super().__init__("rs_vla_guard_attack")
        self.attack = self.declare_parameter("attack", "noise").value
        self.eps = float(self.declare_parameter("eps", 0.25).value)
        self.pgd_steps = int(self.declare_parameter("pgd_steps", 10).value)
        self.pgd_aim = str(self.declare_parameter("pgd_aim", "any").value)  # any wrong motion, or "harmful"
        policy = self.declare_parameter("policy", "builtin").value
        seed = int(self.declare_parameter("seed", 0).value)
        if self.attack not in attacks.ATTACKS or self.eps < 0 or self.pgd_aim not in attacks.PGD_AIMS:
            raise ValueError(f"attack must be one of {attacks.ATTACKS}, eps >= 0 and pgd_aim one of {attacks.PGD_AIMS}"
                             f" (got {self.attack}, {self.eps}, {self.pgd_aim})")
        from .guard import Guard

        # The attacker's copy of the policy (no sensitivity check: it is only differentiated).
        self.guard = Guard.from_config({"policy": policy, "allow_blind_policy": True}, check=False)
        self.generator = torch.Generator().manual_seed(seed)
        self.instruction = None
        self._latest = None
        self._wake = threading.Event()
        self.image_pub = self.create_publisher(Image, "image", qos_profile_sensor_data)
        self.report_pub = self.create_publisher(String, "attack", 10)
        self.create_subscription(Image, "image_in", self._on_image, qos_profile_sensor_data)
        self.create_subscription(String, "instruction", self._on_instruction, LATCHED)
        self.stopping = threading.Event()

    def _on_image(self, msg: Image) -> None:
        self._latest = msg
        self._wake.set()

    def _on_instruction(self, msg: String) -> None:
        self.instruction = msg.data

    def perturb(self, msg: Image):
        frame = frame_from_image_msg(msg)
        clean = torch.from_numpy(frame_to_input(frame, self.guard.policy.input_size))
        if self.attack == "none":
            return attacks.to_frame(clean), attacks.rounding_floor(clean)
        if self.attack == "noise":
            return attacks.noise(clean, self.eps, self.generator)
        if self.attack == "patch":
            return attacks.patch(clean, self.eps)
        instruction = self.instruction or "go to the red block"
        scores = lambda x: self.guard.policy.log_likelihoods(x, instruction, self.guard.phrases)  # noqa: E731
        with torch.inference_mode():
            clean_action = self.guard.actions[int(scores(clean.unsqueeze(0)).argmax())]
        targets = attacks.attack_targets(self.guard.actions, clean_action, self.guard.params["safe_action"],
                                         self.pgd_aim)
        return attacks.pgd(clean, self.eps, scores, targets, steps=self.pgd_steps)

    def loop(self) -> None:
        while not self.stopping.is_set():
            if not self._wake.wait(0.1):
                continue
            self._wake.clear()
            msg = self._latest
            try:
                frame, achieved = self.perturb(msg)
            except InvalidImage as error:
                self.get_logger().warning(f"frame not attacked (dropped): {error}")
                continue
            out = Image(height=frame.shape[0], width=frame.shape[1], encoding="rgb8", step=frame.shape[1] * 3,
                        data=frame.tobytes())
            out.header = msg.header
            self.image_pub.publish(out)
            self.report_pub.publish(String(data=json.dumps({
                "attack": self.attack, "eps": self.eps, "l2": round(achieved, 5),
                "stamp": stamp_seconds(msg.header.stamp)})))


def main(args=None) -> None:
    rclpy.init(args=args if args is not None else sys.argv)
    node = AttackNode()
    spin_with_worker(node, node.loop, node.stopping, "attacks")


if __name__ == "__main__":
    main()
