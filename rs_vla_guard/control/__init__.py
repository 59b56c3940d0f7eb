"""The rules of one control period, free of ROS, of bag libraries and of torch: plain classes with the
clock passed in, so the node, the replay and the tests apply the same rules.

- :mod:`.deadline`: the real-time budget of one decision (DESIGN 2.11): the batch-time estimate that
  recovers after a slow spell, and the question the sequential tests ask before every batch;
- :mod:`.budget`: what a configuration can certify within ``deadline_s`` on this machine, from one
  measured batch time (``rs-vla-guard budget`` and the node's diagnostics).
"""
from .budget import Budget, budget_for
from .deadline import BatchTimeEstimate, DecisionTimer

__all__ = ["BatchTimeEstimate", "Budget", "DecisionTimer", "budget_for"]
