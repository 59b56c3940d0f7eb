"""The real guard node with a policy that sleeps before every forward pass (deadline tests).

Run as a module like the real executable: ``python test/slow_guard_node.py --ros-args ...``. The guard,
node, topics and watchdog are the production ones; only the policy's forward is slowed down.
"""
import sys
import time

from rs_vla_guard.guard import Guard
from rs_vla_guard.ros.guard_node import GuardNode, main

SLEEP_S = 1.5


def slow_guard(params):
    guard = Guard.from_config(params)
    score = guard.policy.score

    def sleepy_score(*args, **kwargs):
        time.sleep(SLEEP_S)
        return score(*args, **kwargs)

    guard.policy.score = sleepy_score
    return guard


class SlowWarmupFreeNode(GuardNode):
    def _warm_up(self):  # the warm-up would sleep too; the point of the test is the running node
        pass


if __name__ == "__main__":
    main(sys.argv, node_factory=lambda: SlowWarmupFreeNode(guard_factory=slow_guard))
