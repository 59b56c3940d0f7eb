"""The real guard node with a policy that can be told to misbehave, over a topic (fault-injection tests).

Run like the real executable: ``python test/fault_guard_node.py --ros-args ...``. The guard, node, topics
and timers are the production ones; only the policy is wrapped (:mod:`faulty_policy`). Publish a fault
on ``fault`` (std_msgs/String): ``none``, ``raise:NAME``, ``once:NAME``, ``hang:SECONDS``, ``nan``, ``inf``,
``shape``. With the environment variable FAULT_CONFIGURE_SLEEP_S, configure first sleeps that long (a slow
model load).
"""
import os
import sys
import time

from std_msgs.msg import String

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faulty_policy import FaultyPolicy  # noqa: E402

from rs_vla_guard.guard import Guard  # noqa: E402
from rs_vla_guard.ros.guard_node import GuardNode, main  # noqa: E402


class FaultNode(GuardNode):
    def __init__(self):
        self.policies = []
        super().__init__(guard_factory=self._make_guard)
        self.create_subscription(String, "fault", self._on_fault, 10)

    def _make_guard(self, params):
        time.sleep(float(os.environ.get("FAULT_CONFIGURE_SLEEP_S", "0")))  # a slow model load, on request
        guard = Guard.from_config(params)
        guard.policy = FaultyPolicy(guard.policy)
        self.policies.append(guard.policy)
        return guard

    def _on_fault(self, msg):
        for policy in self.policies:
            with policy._lock:
                policy.fault = msg.data
        self.get_logger().info(f"fault: {msg.data}")


if __name__ == "__main__":
    main(sys.argv, node_factory=FaultNode)
