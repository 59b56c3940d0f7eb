"""A decision with a deadline (as the node makes them) ends in time with a stop, and is otherwise unchanged."""
import numpy as np
import pytest

from rs_vla_guard.guard import Guard

pytestmark = pytest.mark.model

FRAME = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
OVERRIDES = {"allow_blind_policy": True, "n_max": 128, "batch_size": 16, "seed": 3}


def test_a_decision_out_of_time_stops_with_deadline_exceeded(tiny_llava_dir):
    guard = Guard.from_config(dict(OVERRIDES, policy=tiny_llava_dir))
    decision = guard.decide(FRAME, "go to the red block", deadline_s=1e-9)
    assert (decision.action, decision.certified, decision.reason) == ("stop", False, "deadline_exceeded")
    assert decision.n_samples == 0
    # The guard is not stuck: the next decision without a deadline samples again.
    assert guard.decide(FRAME, "go to the red block").n_samples > 0


def test_a_deadline_that_is_not_reached_changes_nothing(tiny_llava_dir):
    timed = Guard.from_config(dict(OVERRIDES, policy=tiny_llava_dir))
    untimed = Guard.from_config(dict(OVERRIDES, policy=tiny_llava_dir))
    for instruction in ("go to the red block", "go to the blue block"):
        a = timed.decide(FRAME, instruction, deadline_s=60.0)
        b = untimed.decide(FRAME, instruction)
        assert (a.action, a.certified, a.reason, a.n_samples, a.counts, a.p_lower) == \
               (b.action, b.certified, b.reason, b.n_samples, b.counts, b.p_lower)
