"""The rules of one control period, free of ROS, of bag libraries and of torch: plain functions and small
classes with the clock passed in, so the node, the replay and the tests apply the same rules.

- :mod:`.inputs`: what a period reads (the latest frame, instruction, state, e-stop, enable) and the
  checks of one input on its own;
- :mod:`.rules`: the order of precedence (e-stop > disabled > inactive > invalid input > stale or missing
  input > deadline > the decision's own reason > hold) and the rules at publication and in gate mode;
- :mod:`.deadline`: the real-time budget of one decision (docs/theory.md, section 10): the batch-time estimate that
  recovers after a slow spell, and the question the sequential tests ask before every batch;
- :mod:`.budget`: what a configuration can certify within ``deadline_s`` on this machine, from one
  measured batch time (``rs-vla-guard budget`` and the node's diagnostics).
- :mod:`.chunks`: what a chunked policy's certified tube lets an arm execute, and what goes to its
  controller (the chunk, or a hold at the latest valid positions).
"""
from .budget import Budget, budget_for
from .deadline import BatchTimeEstimate, DecisionTimer
from .inputs import FrameInput, InputLatch, Inputs, InstructionInput, StateInput, instruction_problem, state_problem
from .rules import Hold, Stop, deadline_stop, gate, hold, input_stop, publication_stop, running_stop, safety_stop

__all__ = ["BatchTimeEstimate", "Budget", "DecisionTimer", "FrameInput", "Hold", "InputLatch", "Inputs",
           "InstructionInput", "StateInput", "Stop", "budget_for", "deadline_stop", "gate", "hold", "input_stop",
           "instruction_problem", "publication_stop", "running_stop", "safety_stop", "state_problem"]
