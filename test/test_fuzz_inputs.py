"""Fuzzing what arrives from outside, without a model: image messages, stamps, parameter sets and
instructions. Whatever arrives, the answer is a valid value or the package's own clear error, never
another exception, and nothing reflected from the input is unbounded."""
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rs_vla_guard import actions, params
from rs_vla_guard.frames import ENCODINGS, InvalidImage, frame_from_image_msg
from rs_vla_guard.guard import instruction_problem
from rs_vla_guard.text import DETAIL_CHARS

REFLECTED = DETAIL_CHARS + 40  # a bounded quote plus the sentence around it

encodings = st.one_of(st.sampled_from(sorted(ENCODINGS) + ["RGB8", "16UC1", "yuv422", "bayer_rggb8", ""]),
                      st.text(max_size=50), st.text(min_size=1000, max_size=3000))


@st.composite
def image_messages(draw):
    encoding = draw(encodings)
    height, width = draw(st.integers(-2, 12)), draw(st.integers(-2, 12))
    channels = ENCODINGS.get(str(encoding).lower(), (3,))[0]
    step = draw(st.one_of(st.just(max(width, 0) * channels), st.integers(-5, 60)))
    size = draw(st.one_of(st.just(max(step, 0) * max(height, 0)), st.integers(0, 800)))
    data = draw(st.one_of(st.binary(min_size=size, max_size=size), st.lists(st.integers(0, 255), max_size=64)))
    return SimpleNamespace(encoding=encoding, height=height, width=width, step=step, data=data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image_messages())
def test_any_image_message_decodes_to_a_frame_or_a_bounded_invalid_image(msg):
    try:
        frame = frame_from_image_msg(msg)
    except InvalidImage as error:
        assert len(str(error)) <= REFLECTED and str(error).isprintable()
        return
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape == (msg.height, msg.width, 3)


@settings(max_examples=300, deadline=None)
@given(sec=st.integers(-2**31, 2**31 - 1), nanosec=st.integers(0, 2**32 - 1), received=st.floats(0, 2e9))
def test_any_stamp_is_a_time_after_the_epoch_or_invalid(sec, nanosec, received):
    pytest.importorskip("rclpy")
    from rs_vla_guard.ros.guard_node import GuardNode

    stamp = SimpleNamespace(sec=sec, nanosec=nanosec)
    try:
        value = GuardNode.frame_time(stamp, received)
    except InvalidImage:
        assert sec < 0 or nanosec >= 1_000_000_000
        return
    assert value == (received if sec == nanosec == 0 else sec + nanosec * 1e-9) and value >= 0


values = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=30), st.lists(st.floats(-3, 3), max_size=6), st.lists(st.text(max_size=12), max_size=6),
                   st.sampled_from(["stop", "turn_left", "move_forward+turn_left", "sequential", "fixed", ""]))
parameter_sets = st.dictionaries(st.sampled_from([p.name for p in params.PARAMETERS] + ["bogus"]), values,
                                 max_size=6)


@settings(max_examples=500, deadline=None)
@given(parameter_sets)
def test_any_parameter_set_is_a_safe_configuration_or_refused_with_every_reason(overrides):
    try:
        config = params.effective(overrides)
    except params.ConfigError as error:
        names = {p.name for p in params.PARAMETERS} | {"bogus"}
        assert error.problems and all(problem.split(":")[0] in names for problem in error.problems)
        return
    assert params.validate(config) == []
    safe = config["safe_action"]
    assert actions.twist_of(config, safe) == (0.0, 0.0)
    for action in config["actions"] + [actions.set_label(s) for s in actions.fallback_sets(config)]:
        linear, angular = actions.twist_of(config, action)
        assert abs(linear) <= config["max_linear_speed"] and abs(angular) <= config["max_angular_speed"]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.text(max_size=40), st.text(min_size=400, max_size=2000)))
def test_any_instruction_is_accepted_or_refused_with_a_reason(instruction):
    config = params.defaults()
    problem = instruction_problem(instruction, config)
    acceptable = isinstance(instruction, str) and instruction.strip() and len(instruction) <= 500
    assert (problem is None) == bool(acceptable)
    if problem is not None:
        assert problem[0] in (actions.NO_INSTRUCTION, actions.INVALID_INSTRUCTION) and len(problem[1]) < 200
