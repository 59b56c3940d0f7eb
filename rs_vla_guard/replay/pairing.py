"""What a recorded moment looks like to the guard: the inputs the node would have held at a replay tick
(the latest instruction, state and frame then), as :class:`~rs_vla_guard.control.inputs.Inputs`, so that
the node's rules (:mod:`rs_vla_guard.control.rules`) judge a replay exactly as they judge a live robot.

Times are passed relative to the tick (the tick is 0, an input recorded 0.3 s before it is -0.3), computed
from the recorded nanoseconds by one subtraction: ages come out exactly as the node would measure them.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..control.inputs import FrameInput, Inputs, InstructionInput, StateInput
from .timeline import NS, latest_at


def _relative(time_ns: int, tick_ns: int) -> float:
    return (time_ns - tick_ns) / NS


def inputs_at(tick_ns: int, frame_ns: int, *, frame_problem: str = "", instruction: Optional[str] = None,
              instructions: Sequence[Tuple[int, str]] = (), instruction_times: Sequence[int] = (),
              states: Sequence[Tuple[int, Optional[List[float]], str]] = (), state_times: Sequence[int] = (),
              state_dim: int = 0) -> Inputs:
    """The inputs at ``tick_ns`` (the rules' clock reads 0 then): the frame recorded at ``frame_ns`` (and why
    it could not be decoded, if so), one ``instruction`` for the whole recording or the latest of the
    recorded ``instructions`` (with their ``instruction_times``), and the latest recorded state.
    A replayed robot is active and enabled, with no e-stop (its recording does not say otherwise)."""
    frame = FrameInput(_relative(frame_ns, tick_ns), frame_problem)
    if instruction is not None:
        given: Optional[InstructionInput] = InstructionInput(instruction, 0.0)
    else:
        index = latest_at(instruction_times, tick_ns)
        given = None if index < 0 else InstructionInput(instructions[index][1],
                                                        _relative(instructions[index][0], tick_ns))
    state = None
    if state_dim:
        index = latest_at(state_times, tick_ns)
        if index >= 0:
            time_ns, values, problem = states[index]
            state = StateInput(None if values is None else tuple(values), _relative(time_ns, tick_ns), problem)
    return Inputs(frame=frame, instruction=given, state=state, state_dim=state_dim)


def recorded_inputs(scan: Any, times: Dict[str, List[int]], tick_ns: int, frame_index: int, *,
                    instruction: Optional[str], state_dim: int, frame_problem: str = "") -> Inputs:
    """:func:`inputs_at` for a bag's scan (``times``: the scan's instruction and state times, looked up once)."""
    return inputs_at(tick_ns, scan.frame_times[frame_index], frame_problem=frame_problem, instruction=instruction,
                     instructions=scan.instructions, instruction_times=times["instructions"], states=scan.states,
                     state_times=times["states"], state_dim=state_dim)
