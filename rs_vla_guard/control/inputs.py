"""What one control period reads: the latest frame, instruction, robot state, e-stop and enable, each with
the time it is about; and the checks of one input on its own (an instruction, a state vector).

:class:`InputLatch` keeps the latest of each as messages arrive (the node); a replay builds the same
:class:`Inputs` from recorded times. Either way :func:`~.rules.input_stop` judges them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .. import actions as A
from ..text import printable


@dataclass(frozen=True)
class FrameInput:
    """The latest frame: when it was taken (clock seconds; None when its stamp is unusable) and, when it
    cannot be decided on, why (a bad stamp, an encoding, a size: ``invalid_image``)."""

    time: Optional[float]
    problem: str = ""


@dataclass(frozen=True)
class InstructionInput:
    """The latest instruction message's text and when it arrived."""

    text: Any
    time: float


@dataclass(frozen=True)
class StateInput:
    """The latest robot state message: its values (None when it had none usable), when it arrived, and what
    was wrong with it when its message could not be read (a joint missing)."""

    values: Optional[Tuple[float, ...]]
    time: float
    problem: str = ""


@dataclass(frozen=True)
class Inputs:
    """Everything the rules of one control period read. ``state_dim``: values the policy takes (0: none);
    ``estop_age``: seconds since the latest e-stop message, on a steady clock (None: none yet)."""

    frame: Optional[FrameInput] = None
    instruction: Optional[InstructionInput] = None
    state: Optional[StateInput] = None
    state_dim: int = 0
    estop: Optional[bool] = None
    estop_age: Optional[float] = None
    enabled: bool = True
    active: bool = True

    def with_frame_problem(self, problem: str) -> "Inputs":
        """These inputs, the frame found undecodable for ``problem``."""
        frame = self.frame or FrameInput(None)
        return replace(self, frame=replace(frame, problem=printable(problem)))


def instruction_problem(instruction: Any, params: Dict[str, Any]) -> Optional[Tuple[str, str]]:
    """(reason, detail) when ``instruction`` cannot be decided on: too long (``invalid_instruction``), or
    missing or blank (``no_instruction``); None when it can."""
    if isinstance(instruction, str) and len(instruction) > params["max_instruction_chars"]:
        return A.INVALID_INSTRUCTION, (f"instruction of {len(instruction)} characters is longer than "
                                       f"max_instruction_chars {params['max_instruction_chars']}")
    if not isinstance(instruction, str) or not instruction.strip():
        return A.NO_INSTRUCTION, "no instruction received"
    return None


def state_problem(values: Optional[Sequence[Any]], state_dim: int) -> str:
    """Why a state vector cannot be used by a policy that takes ``state_dim`` values ('' when it can):
    no values, the wrong number, or one that is not a finite number. The detail is plain text."""
    if values is None:
        return "the state message had no usable values"
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        return "the state holds a value that is not a number"
    if not numbers:
        return "the state has no values"
    if len(numbers) != state_dim:
        return f"the policy takes {state_dim} state values, the state has {len(numbers)}"
    bad = [i for i, v in enumerate(numbers) if not math.isfinite(v)]
    if bad:
        return f"state value {bad[0]} is {numbers[bad[0]]!r}, not a finite number" + \
               (f" ({len(bad)} such values)" if len(bad) > 1 else "")
    return ""


def joint_state_values(names: Sequence[str], positions: Sequence[Any], wanted: Sequence[str]
                       ) -> Tuple[Optional[List[float]], str]:
    """(the positions of the ``wanted`` joints in order, '') from a JointState's names and positions, or
    (None, why) when one is missing or the message has fewer positions than names. Values are not judged
    here: :func:`state_problem` does that for every kind of state message alike."""
    if len(positions) < len(names):
        return None, f"joint_states has {len(names)} names but {len(positions)} positions"
    by_name = dict(zip(names, positions))
    missing = [name for name in wanted if name not in by_name]
    if missing:
        return None, f"joint_states lacks {', '.join(missing)}"
    try:
        return [float(by_name[name]) for name in wanted], ""
    except (TypeError, ValueError):
        return None, "joint_states holds a position that is not a number"


class InputLatch:
    """The latest of each input as messages arrive (not thread-safe: the caller holds its lock).

    Frame times are on the caller's clock (a frame's stamp, or its reception); the e-stop's reception is
    on a steady clock (``estop_at``), so a stopped simulation clock cannot hide a silent e-stop publisher."""

    def __init__(self) -> None:
        self.frame: Optional[FrameInput] = None
        self.frame_message: Any = None  # what the caller decodes when the rules allow a decision
        self.instruction: Optional[InstructionInput] = None
        self.state: Optional[StateInput] = None
        self.estop: Optional[bool] = None
        self.estop_at: Optional[float] = None
        self.enabled = True

    def on_frame(self, message: Any, time: Optional[float], problem: str = "") -> None:
        self.frame, self.frame_message = FrameInput(time, printable(problem)), message

    def on_instruction(self, text: Any, time: float) -> None:
        self.instruction = InstructionInput(text, time)

    def on_state(self, values: Optional[Sequence[float]], time: float, problem: str = "") -> None:
        self.state = StateInput(None if values is None else tuple(values), time, printable(problem))

    def on_estop(self, engaged: bool, steady_time: float) -> None:
        self.estop, self.estop_at = bool(engaged), steady_time

    def clear(self) -> None:
        """Forget the frame, instruction and state (a cleanup); e-stop and enable stay."""
        self.frame = self.frame_message = self.instruction = self.state = None

    def inputs(self, *, state_dim: int, active: bool, steady_now: float) -> Inputs:
        age = None if self.estop_at is None else steady_now - self.estop_at
        return Inputs(self.frame, self.instruction, self.state, state_dim, self.estop, age, self.enabled, active)
