"""The rules of one control period, in one order of precedence, with the clock passed in.

What goes out in a control period is decided here, by plain functions of the inputs
(:class:`~.inputs.Inputs`), the parameters and the time; the ROS node and the replay call the same
functions, so a replay says what the robot would have done. The order, first rule that applies wins:

1. ``estop``: the e-stop is engaged, or (``estop_timeout_s`` > 0) its publisher is silent;
2. ``disabled``: the enable service said false;
3. ``inactive``: the node is not active;
4. invalid input: ``invalid_image`` (a frame that cannot be decoded or whose stamp is unusable),
   ``invalid_instruction`` (longer than ``max_instruction_chars``), ``invalid_state`` (a state message
   that arrived but holds a value that is not finite, no values, the wrong number, a joint missing);
5. stale or missing input: ``no_image``, ``stale_image`` (older than ``image_timeout_s``, or stamped
   further than that in the future), ``no_instruction`` (none, blank, or older than
   ``instruction_timeout_s``), ``no_state``, ``stale_state``;
6. ``deadline_exceeded``: the decision answered after ``deadline_s`` (or is still running past it);
7. the decision's own reason (``certified``, ``below_threshold``, ``policy_error``, ...), and in gate mode
   the upstream command's (``no_command``, ``disagrees_with_command``);
8. a hold: when no decision was published in the period, the latest command again while its frame is
   still fresh under the same parameters and instruction.

A certified command is also re-checked when it is published (:func:`publication_stop`): a frame that went
stale while its decision was made, or an e-stop that arrived meanwhile, turns it into that stop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

from .. import actions as A
from .inputs import Inputs, instruction_problem, state_problem


@dataclass(frozen=True)
class Stop:
    """A stop and why: the reason (one of :data:`~rs_vla_guard.actions.STOP_REASONS`), a printable detail,
    and the frame's age when known."""

    reason: str
    detail: str
    image_age: Optional[float] = None


def safety_stop(inputs: Inputs, params: Dict[str, Any]) -> Optional[Stop]:
    """Rules 1-2: the e-stop engaged (or silent past ``estop_timeout_s``), or the guard disabled."""
    if inputs.estop:
        return Stop(A.ESTOP, "e-stop engaged")
    timeout = params["estop_timeout_s"]
    if timeout > 0 and (inputs.estop_age is None or inputs.estop_age > timeout):
        silent = ("no e-stop message yet" if inputs.estop_age is None else
                  f"e-stop publisher silent for {inputs.estop_age:.2f} s")
        return Stop(A.ESTOP, f"{silent} (estop_timeout_s {timeout:g})")
    if not inputs.enabled:
        return Stop(A.DISABLED, "disabled through the enable service")
    return None


def input_stop(inputs: Inputs, params: Dict[str, Any], now: float) -> Optional[Stop]:
    """Rules 1-5 at time ``now`` (the clock of the frame, instruction and state times): the stop that the
    inputs alone call for, or None when a decision may be made."""
    stop = safety_stop(inputs, params)
    if stop is not None:
        return stop
    if not inputs.active:
        return Stop(A.INACTIVE, "the guard is not active")
    frame = inputs.frame
    age = None if frame is None or frame.time is None else now - frame.time
    # 4. invalid input
    if frame is not None and (frame.problem or frame.time is None):
        return Stop(A.INVALID_IMAGE, frame.problem or "the frame's time is unusable", age)
    text = inputs.instruction.text if inputs.instruction is not None else None
    problem = instruction_problem(text, params)
    if problem is not None and problem[0] == A.INVALID_INSTRUCTION:
        return Stop(problem[0], problem[1], age)
    state = inputs.state
    if inputs.state_dim and state is not None:
        detail = state.problem or state_problem(state.values, inputs.state_dim)
        if detail:
            return Stop(A.INVALID_STATE, detail, age)
    # 5. stale or missing input
    if frame is None:
        return Stop(A.NO_IMAGE, "no frame received yet")
    timeout = params["image_timeout_s"]
    if age > timeout:
        return Stop(A.STALE_IMAGE, f"frame is {age:.3f} s old", age)
    if age < -timeout:
        return Stop(A.STALE_IMAGE, f"frame stamped {-age:.3f} s in the future: camera and node clocks disagree", age)
    if problem is not None:
        return Stop(problem[0], problem[1], age)
    timeout = params["instruction_timeout_s"]
    if timeout > 0 and now - inputs.instruction.time > timeout:
        return Stop(A.NO_INSTRUCTION, f"instruction is {now - inputs.instruction.time:.3f} s old (stale)", age)
    if inputs.state_dim:
        if state is None:
            return Stop(A.NO_STATE, "no robot state received yet", age)
        if now - state.time > params["state_timeout_s"]:
            return Stop(A.STALE_STATE, f"robot state is {now - state.time:.3f} s old", age)
    return None


def deadline_stop(latency_s: float, deadline_s: Optional[float]) -> Optional[Stop]:
    """Rule 6 for a finished decision: it answered after ``deadline_s`` (None: no deadline, as in a replay,
    whose decisions do not depend on the machine's speed)."""
    if deadline_s is not None and latency_s > deadline_s:
        return Stop(A.DEADLINE_EXCEEDED, f"decision took {latency_s * 1e3:.0f} ms (deadline_s {deadline_s:g})")
    return None


def running_stop(running_for: Optional[float], deadline_s: float) -> Optional[Stop]:
    """Rule 6 while a decision runs: it has been running for longer than ``deadline_s``."""
    if running_for is not None and running_for > deadline_s:
        return Stop(A.DEADLINE_EXCEEDED, f"decision running for {running_for:.2f} s")
    return None


def publication_stop(certified: bool, frame_time: Optional[float], inputs: Inputs, params: Dict[str, Any],
                     now: float, *, reason: str = "") -> Optional[Stop]:
    """The check of a command as it goes out: the e-stop or a disable that came meanwhile (unless the
    command already stops for it), and for a certified command, a frame that went stale meanwhile."""
    stop = safety_stop(inputs, params)
    if stop is not None and stop.reason != reason:
        return stop
    if certified:
        age = None if frame_time is None else now - frame_time
        if age is None or abs(age) > params["image_timeout_s"]:
            return Stop(A.STALE_IMAGE, "frame went stale before its command went out", age)
    return None


@dataclass(frozen=True)
class Hold:
    """What a control period without a new decision publishes: ``again`` (the latest command repeated) or
    ``stop``."""

    again: bool
    stop: Optional[Stop] = None


def hold(inputs: Inputs, params: Dict[str, Any], now: float, *, running_for: Optional[float],
         last_params: Optional[Dict[str, Any]], last_instruction: Optional[str],
         last_frame_time: Optional[float]) -> Hold:
    """Rule 8 (with 1-6 first): the latest command again while its inputs would still be decided on,
    under the same parameter snapshot (``last_params is params``) and instruction; else the stop that
    applies, or ``deadline_exceeded`` when no decision came for the current frame."""
    stop = input_stop(inputs, params, now) or running_stop(running_for, params["deadline_s"])
    if stop is not None:
        return Hold(False, stop)
    text = inputs.instruction.text if inputs.instruction is not None else None
    if last_params is params and last_instruction == text and last_frame_time is not None:
        return Hold(True)
    return Hold(False, Stop(A.DEADLINE_EXCEEDED, "no decision for the current frame within the control period"))


def gate(members: Sequence[str], command: Optional[Tuple[float, float, float]], params: Dict[str, Any],
         now: float, label_of) -> Tuple[Optional[Stop], Tuple[float, float]]:
    """Gate mode (rule 7): forward the upstream ``command`` (linear_x, angular_z, time) only when its
    direction (``label_of(linear_x, angular_z)``, binned as the continuous oracle bins) is one of the
    certified label's ``members``; (stop, zero twist) otherwise, (None, the capped command) when it passes."""
    if command is None or now - command[2] > params["image_timeout_s"]:
        return Stop(A.NO_COMMAND, "no fresh upstream command"), (0.0, 0.0)
    label = label_of(command[0], command[1])
    if label not in members:
        return Stop(A.DISAGREES_WITH_COMMAND, f"upstream command is {label}"), (0.0, 0.0)
    return None, A.capped(params, command[0], command[1])
