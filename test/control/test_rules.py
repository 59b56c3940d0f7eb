"""The rules of one control period with a fake clock: each rule, every pair of rules in the documented
order of precedence, and the checks at publication, in holds and in gate mode."""
import itertools
import math

import pytest

from rs_vla_guard import actions as A
from rs_vla_guard import params as P
from rs_vla_guard.control.inputs import FrameInput, Inputs, InstructionInput, StateInput
from rs_vla_guard.control.rules import (deadline_stop, gate, hold, input_stop, publication_stop, running_stop)

PARAMS = P.effective({"image_timeout_s": 0.5, "instruction_timeout_s": 2.0, "state_timeout_s": 0.5,
                      "estop_timeout_s": 1.0, "max_instruction_chars": 20})
NOW = 100.0


def fine(**changes):
    """Inputs that allow a decision at NOW; ``changes`` replace fields."""
    base = dict(frame=FrameInput(NOW - 0.1), instruction=InstructionInput("go to the red block", NOW - 1.0),
                state=StateInput((0.1, 0.2), NOW - 0.1), state_dim=2, estop=False, estop_age=0.1, enabled=True,
                active=True)
    base.update(changes)
    return Inputs(**base)


# One way to break each rule, in the order of precedence (first listed wins).
BREAKS = {
    "estop": dict(estop=True),
    "estop_silent": dict(estop_age=5.0),
    "disabled": dict(enabled=False),
    "inactive": dict(active=False),
    "invalid_image": dict(frame=FrameInput(NOW - 0.1, "encoding 'yuv422' is not supported")),
    "invalid_instruction": dict(instruction=InstructionInput("x" * 21, NOW - 1.0)),
    "invalid_state": dict(state=StateInput((math.nan, 0.2), NOW - 0.1)),
    "no_image": dict(frame=None),
    "stale_image": dict(frame=FrameInput(NOW - 0.6)),
    "no_instruction": dict(instruction=InstructionInput("   ", NOW - 1.0)),
    "stale_instruction": dict(instruction=InstructionInput("go to the red block", NOW - 2.5)),
    "no_state": dict(state=None),
    "stale_state": dict(state=StateInput((0.1, 0.2), NOW - 0.6)),
}
REASON = {"estop": A.ESTOP, "estop_silent": A.ESTOP, "disabled": A.DISABLED, "inactive": A.INACTIVE,
          "invalid_image": A.INVALID_IMAGE, "invalid_instruction": A.INVALID_INSTRUCTION,
          "invalid_state": A.INVALID_STATE, "no_image": A.NO_IMAGE, "stale_image": A.STALE_IMAGE,
          "no_instruction": A.NO_INSTRUCTION, "stale_instruction": A.NO_INSTRUCTION, "no_state": A.NO_STATE,
          "stale_state": A.STALE_STATE}
ORDER = list(BREAKS)


def test_fine_inputs_allow_a_decision():
    assert input_stop(fine(), PARAMS, NOW) is None


@pytest.mark.parametrize("name", ORDER)
def test_each_rule_alone(name):
    stop = input_stop(fine(**BREAKS[name]), PARAMS, NOW)
    assert stop is not None and stop.reason == REASON[name], (name, stop)
    assert isinstance(stop.detail, str) and stop.detail


def conflicting(first, second):
    return set(BREAKS[first]) & set(BREAKS[second])  # both break the same input: not a pair of rules


@pytest.mark.parametrize("first,second", [(a, b) for a, b in itertools.combinations(ORDER, 2)
                                          if not conflicting(a, b)])
def test_every_pair_of_rules_the_earlier_wins(first, second):
    stop = input_stop(fine(**BREAKS[second], **BREAKS[first]), PARAMS, NOW)
    assert stop.reason == REASON[first], (first, second, stop)


def test_a_stale_over_long_instruction_is_invalid_live_and_in_replay():
    """The case the node and the replay once disagreed on: invalid input comes before stale input."""
    stop = input_stop(fine(instruction=InstructionInput("y" * 30, NOW - 9.0)), PARAMS, NOW)
    assert stop.reason == A.INVALID_INSTRUCTION


def test_a_frame_from_the_future_beyond_the_timeout_is_stale():
    assert input_stop(fine(frame=FrameInput(NOW + 0.6)), PARAMS, NOW).reason == A.STALE_IMAGE
    assert input_stop(fine(frame=FrameInput(NOW + 0.4)), PARAMS, NOW) is None  # clocks a little apart


def test_freshness_boundaries_are_inclusive():
    exactly = fine(frame=FrameInput(NOW - 0.5), state=StateInput((0.0, 0.0), NOW - 0.5),
                   instruction=InstructionInput("go", NOW - 2.0))
    assert input_stop(exactly, PARAMS, NOW) is None


def test_instructions_never_go_stale_with_a_zero_timeout():
    params = dict(PARAMS, instruction_timeout_s=0.0)
    assert input_stop(fine(instruction=InstructionInput("go", NOW - 1e6)), params, NOW) is None


def test_a_policy_without_state_ignores_the_state_rules():
    assert input_stop(fine(state=StateInput((math.nan,), NOW - 50), state_dim=0), PARAMS, NOW) is None


def test_no_estop_timeout_means_no_silent_estop():
    assert input_stop(fine(estop=None, estop_age=None), dict(PARAMS, estop_timeout_s=0.0), NOW) is None
    assert input_stop(fine(estop=None, estop_age=None), PARAMS, NOW).reason == A.ESTOP


def test_deadline_rules():
    assert deadline_stop(0.49, 0.5) is None and deadline_stop(0.51, 0.5).reason == A.DEADLINE_EXCEEDED
    assert deadline_stop(99.0, None) is None  # a replay: no deadline
    assert running_stop(None, 0.5) is None and running_stop(0.4, 0.5) is None
    assert running_stop(0.6, 0.5).reason == A.DEADLINE_EXCEEDED


def test_publication_turns_a_certified_command_on_a_frame_gone_stale_into_a_stop():
    assert publication_stop(True, NOW - 0.4, fine(), PARAMS, NOW) is None
    assert publication_stop(True, NOW - 0.6, fine(), PARAMS, NOW).reason == A.STALE_IMAGE
    assert publication_stop(True, None, fine(), PARAMS, NOW).reason == A.STALE_IMAGE
    assert publication_stop(False, NOW - 9.0, fine(), PARAMS, NOW) is None  # a stop goes out as it is


def test_publication_applies_an_estop_that_came_meanwhile_unless_already_that_stop():
    engaged = fine(estop=True)
    assert publication_stop(True, NOW - 0.1, engaged, PARAMS, NOW).reason == A.ESTOP
    assert publication_stop(False, NOW - 0.1, engaged, PARAMS, NOW, reason=A.ESTOP) is None
    assert publication_stop(False, None, fine(enabled=False), PARAMS, NOW).reason == A.DISABLED


def test_hold_repeats_the_last_command_only_under_the_same_snapshot_and_instruction():
    text = fine().instruction.text
    kept = hold(fine(), PARAMS, NOW, running_for=None, last_params=PARAMS, last_instruction=text,
                last_frame_time=NOW - 0.1)
    assert kept.again and kept.stop is None
    other = dict(PARAMS)  # an equal but new snapshot: a parameter change came in between
    for changed in (dict(last_params=other, last_instruction=text), dict(last_params=PARAMS, last_instruction="go"),
                    dict(last_params=None, last_instruction=None)):
        verdict = hold(fine(), PARAMS, NOW, running_for=None, last_frame_time=NOW - 0.1, **changed)
        assert not verdict.again and verdict.stop.reason == A.DEADLINE_EXCEEDED


def test_hold_precedence_inputs_then_a_running_decision():
    text = fine().instruction.text
    args = dict(last_params=PARAMS, last_instruction=text, last_frame_time=NOW - 0.1)
    assert hold(fine(frame=FrameInput(NOW - 0.7)), PARAMS, NOW, running_for=9.0, **args).stop.reason == A.STALE_IMAGE
    assert hold(fine(), PARAMS, NOW, running_for=0.9, **args).stop.reason == A.DEADLINE_EXCEEDED
    assert hold(fine(estop=True), PARAMS, NOW, running_for=0.9, **args).stop.reason == A.ESTOP


def test_gate_forwards_only_a_fresh_agreeing_command_capped():
    label_of = lambda linear, angular: "turn_left" if angular > 0.1 else "move_forward"  # noqa: E731
    params = dict(PARAMS, max_angular_speed=0.5)
    stop, twist = gate(["turn_left"], (0.0, 0.9, NOW - 0.1), params, NOW, label_of)
    assert stop is None and twist == (0.0, 0.5)
    stop, twist = gate(["turn_left"], (0.3, 0.0, NOW - 0.1), params, NOW, label_of)
    assert stop.reason == A.DISAGREES_WITH_COMMAND and twist == (0.0, 0.0)
    assert gate(["turn_left"], (0.0, 0.9, NOW - 0.6), params, NOW, label_of)[0].reason == A.NO_COMMAND
    assert gate(["turn_left"], None, params, NOW, label_of)[0].reason == A.NO_COMMAND
    stop, _ = gate(["move_forward", "turn_left"], (0.3, 0.0, NOW), params, NOW, label_of)
    assert stop is None  # a certified set: either member passes


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

from rs_vla_guard.control.inputs import state_problem  # noqa: E402

import numpy as np  # noqa: E402


@settings(max_examples=400, deadline=None)
@given(values=st.one_of(
    arrays(np.float64, st.integers(0, 6), elements=st.floats(allow_nan=True, allow_infinity=True)),
    arrays(np.float32, st.integers(0, 6), elements=st.floats(width=32, allow_nan=True, allow_infinity=True)),
    st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6), st.text(max_size=3),
                       st.none()), max_size=6)),
       state_dim=st.integers(1, 4))
def test_a_state_is_usable_exactly_when_it_has_the_right_number_of_finite_values(values, state_dim):
    """Any array or list: '' (usable) iff it has state_dim values, every one a finite number; otherwise a
    printable detail in plain floats (no numpy reprs), and the rules stop with invalid_state."""
    problem = state_problem(values, state_dim)
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        numbers = None
    usable = numbers is not None and len(numbers) == state_dim and all(math.isfinite(v) for v in numbers)
    assert (problem == "") == usable, (list(values), problem)
    assert "np." not in problem and "array(" not in problem and problem.isprintable()
    inputs = fine(state=StateInput(tuple(values), NOW - 0.1), state_dim=state_dim)
    stop = input_stop(inputs, PARAMS, NOW)
    assert (stop is None) == usable and (usable or stop.reason == A.INVALID_STATE)
