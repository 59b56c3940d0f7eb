"""Fuzzing ``Guard.decide`` with the built-in policy: random frames (good and broken), instructions,
runtime parameters and policy faults. The invariant on every decision: a non-stop action only with a
certificate at or above the threshold, its twist from the table; otherwise the safe action, a zero
twist and a stop reason. ``decide`` never raises for a policy that raises an ``Exception``."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faulty_policy import FaultyPolicy
from rs_vla_guard import actions, params
from rs_vla_guard.guard import Guard
from rs_vla_guard.tasks import blocks

pytestmark = pytest.mark.model

SETS = "move_forward+turn_left, move_forward+turn_right"


@pytest.fixture(scope="module")
def guard():
    guard = Guard.from_config({"seed": 11})
    guard.policy = FaultyPolicy(guard.policy)
    return guard


@st.composite
def frames(draw):
    kind = draw(st.sampled_from(["scene"] * 6 + ["noise", "constant", "wrong_shape", "wrong_dtype", "tiny"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "scene":
        scene, _, _ = blocks.random_scene(rng, target="red", margin=draw(st.sampled_from([0.0, 0.05])))
        return blocks.render(scene, draw(st.sampled_from([64, 160, 333])), draw(st.sampled_from([48, 120, 241])))
    if kind == "noise":
        return rng.integers(0, 256, (draw(st.integers(1, 90)), draw(st.integers(1, 90)), 3), dtype=np.uint8)
    if kind == "constant":
        return np.full((40, 50, 3), draw(st.integers(0, 255)), np.uint8)
    if kind == "wrong_shape":
        return np.zeros(draw(st.sampled_from([(10, 10), (10, 10, 4), (0, 5, 3), (3,)])), np.uint8)
    if kind == "wrong_dtype":
        return rng.random((20, 20, 3)).astype(draw(st.sampled_from([np.float32, np.int64, np.uint16])))
    return np.zeros((1, 1, 3), np.uint8)


VALID = [blocks.instruction_for(c) for c in blocks.TARGET_COLOURS]
instructions = st.one_of(st.sampled_from(VALID), st.sampled_from(VALID), st.sampled_from(VALID),
                         st.sampled_from(["", "   ", "go to the purple block", "turn left", "stop!"]),
                         st.text(max_size=30), st.text(min_size=501, max_size=700))
faults = st.sampled_from(["none", "none", "none", "raise:RuntimeError", "raise:ValueError", "raise:MemoryError",
                          "once:RuntimeError", "nan", "inf", "shape"])
runtime = st.fixed_dictionaries({}, optional={
    "radius_threshold": st.sampled_from([0.0, 0.1, 0.25, 0.3]), "sigma": st.sampled_from([0.25, 0.35]),
    "alpha": st.sampled_from([0.001, 0.01, 0.05]), "certify_mode": st.sampled_from(["sequential", "fixed"]),
    "fallback_sets": st.sampled_from(["", SETS]), "oracle_error": st.sampled_from([0.0, 0.02]),
    "safe_action": st.sampled_from(["stop"]), "max_linear_speed": st.sampled_from([0.2, 1.0])})


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(frame=frames(), instruction=instructions, fault=faults, changes=runtime)
def test_every_decision_is_a_certified_action_or_a_reasoned_stop(guard, frame, instruction, fault, changes):
    try:
        guard.update(**{**params.defaults(), "seed": 11, **changes})
    except params.ConfigError:
        return  # a combination that can never certify is refused, as the node would refuse it
    guard.policy.fault = fault
    try:
        decision = guard.decide(frame, instruction)
    finally:
        guard.policy.fault = "none"
    config = guard.params
    assert decision.config_hash == params.config_hash(config)
    assert decision.error.isprintable() and len(decision.error) < 300
    if decision.action != config["safe_action"]:
        assert decision.certified and decision.reason == actions.CERTIFIED
        assert decision.radius >= config["radius_threshold"] and decision.p_lower > 0.5
        assert decision.twist == pytest.approx(actions.twist_of(config, decision.action))
        assert fault in ("none", "once:RuntimeError")  # garbage from the policy never certifies a motion
    if not decision.certified:
        assert decision.action == config["safe_action"] and decision.twist == (0.0, 0.0)
        assert decision.reason in actions.STOP_REASONS
    if fault in ("nan", "inf", "shape") or fault.startswith("raise"):
        assert not decision.certified
