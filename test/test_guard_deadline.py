"""A decision with a deadline (as the node makes them) ends in time with a stop, and is otherwise unchanged."""
import time

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


class SlowThenFast:
    """Wraps a policy's score: sleeps ``seconds`` before each forward while ``slow`` is set (a slow spell made
    on purpose: a CUDA warm-up, a garbage collection, a busy neighbour)."""

    def __init__(self, score, seconds):
        self.score, self.seconds, self.slow = score, seconds, False

    def __call__(self, *args, **kwargs):
        if self.slow:
            time.sleep(self.seconds)
        return self.score(*args, **kwargs)


def test_certifications_resume_within_one_decision_after_a_slow_spell():
    from rs_vla_guard.tasks import blocks

    # Batches of 16: a clear frame's first look (43 samples) needs three batches, so a decision that still
    # believed the spell's batch time would stop before its second batch.
    guard = Guard.from_config({"batch_size": 16})
    slow = SlowThenFast(guard.policy.score, 0.7)
    guard.policy.score = slow
    frame = blocks.render(blocks.Scene([blocks.Block("red", 0.15, 0.2)]))  # clear: turn_left
    slow.slow = True
    for _ in range(2):
        spell = guard.decide(frame, "go to the red block", deadline_s=0.5)
        assert spell.n_samples <= 16 and not spell.certified  # one batch ran, then the deadline
    assert guard.batch_time.seconds >= 0.7
    slow.slow = False
    # Generous for a slow, busy CPU: a batch of 16 takes ~15 ms on 2 cores; the deadline allows 30x that.
    fast = [guard.decide(frame, "go to the red block", deadline_s=0.5) for _ in range(10)]
    assert all(d.n_samples > 0 for d in fast)
    assert sum(d.certified and d.action == "turn_left" for d in fast) >= 8, [d.reason for d in fast]
    assert fast[0].certified, fast[0].reason  # within one decision


def test_warm_up_measures_a_full_batch_and_seeds_the_estimate(tiny_llava_dir):
    guard = Guard.from_config(dict(OVERRIDES, policy=tiny_llava_dir))
    assert guard.warmup["batch_seconds"] > 0 and guard.warmup["first_batch_s"] > 0
    assert guard.batch_time.seconds == guard.warmup["batch_seconds"]
    budget = guard.budget()
    assert budget.batch_seconds == guard.warmup["batch_seconds"] and budget.batch_size == 16
