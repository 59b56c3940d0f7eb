"""The real-time rule (docs/theory.md, section 10) with an injected clock: every decision runs its first batch unless its
deadline has passed, every batch refreshes a decaying-maximum estimate, and a slow spell is forgotten."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rs_vla_guard.control.deadline import BatchTimeEstimate, DecisionTimer


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def run_decision(clock, estimate, deadline_s, batch_seconds, batches_wanted):
    """A sequential test's loop: ask before each batch, stop when told; returns the batches that ran."""
    timer = DecisionTimer(deadline_s, estimate, clock)
    ran = 0
    while ran < batches_wanted:
        if timer.out_of_time():
            break
        clock.advance(batch_seconds)
        ran += 1
    timer.finish()
    return ran


def test_the_estimate_is_a_decaying_maximum():
    estimate = BatchTimeEstimate(decay=0.5)
    estimate.observe(0.7)
    assert estimate.seconds == 0.7
    estimate.observe(0.02)
    assert estimate.seconds == pytest.approx(0.35)
    estimate.observe(0.02)
    assert estimate.seconds == pytest.approx(0.175)
    estimate.observe(0.3)  # a new spike is taken at once
    assert estimate.seconds == pytest.approx(0.3)
    estimate.seed(0.05)
    assert (estimate.seconds, estimate.batches) == (0.05, 0)


def test_the_first_batch_runs_even_after_a_slow_spell():
    clock, estimate = FakeClock(), BatchTimeEstimate()
    # the slow spell: batches of 0.7 s against a 0.5 s deadline
    for _ in range(2):
        assert run_decision(clock, estimate, 0.5, 0.7, batches_wanted=4) == 1
    assert estimate.seconds == pytest.approx(0.7)
    # fast again: the very next decision runs all the batches it wants within the deadline
    assert run_decision(clock, estimate, 0.5, 0.02, batches_wanted=4) == 4
    assert estimate.seconds < 0.1


def test_no_batch_once_the_deadline_has_passed():
    clock, estimate = FakeClock(), BatchTimeEstimate()
    timer = DecisionTimer(0.5, estimate, clock)
    clock.advance(0.6)  # input conversion alone took longer than the deadline
    assert timer.out_of_time()
    assert timer.overran()


def test_a_batch_that_would_end_past_the_deadline_is_not_started():
    clock, estimate = FakeClock(), BatchTimeEstimate(seconds=0.1)
    timer = DecisionTimer(0.5, estimate, clock)
    answers = []
    for _ in range(6):
        answers.append(timer.out_of_time())
        if answers[-1]:
            break
        clock.advance(0.15)
    # questions at 0, 0.15, 0.30: 0.30 + 0.15 <= 0.5 -> go; at 0.45: 0.45 + 0.15 > 0.5 -> stop
    assert answers == [False, False, False, True]
    assert timer.spent() == pytest.approx(0.45) and not timer.overran()


def test_without_a_deadline_nothing_is_refused_but_batches_are_still_measured():
    clock, estimate = FakeClock(), BatchTimeEstimate()
    assert run_decision(clock, estimate, None, 5.0, batches_wanted=3) == 3
    assert estimate.seconds == 5.0 and estimate.batches == 3


def test_a_decision_of_one_batch_measures_it():
    clock, estimate = FakeClock(), BatchTimeEstimate(seconds=0.7)
    assert run_decision(clock, estimate, 0.5, 0.02, batches_wanted=1) == 1
    assert estimate.seconds == pytest.approx(0.35) and estimate.batches == 1


@pytest.mark.parametrize("bad", [-0.1, 1.0, math.nan])
def test_a_decay_outside_zero_one_is_refused(bad):
    with pytest.raises(ValueError):
        BatchTimeEstimate(decay=bad)


@settings(max_examples=300, deadline=None)
@given(spike=st.floats(0.0, 100.0), deadline=st.floats(0.01, 5.0), fast=st.floats(0.0, 1.0),
       want=st.integers(1, 20), spells=st.integers(0, 5))
def test_recovery_within_the_bound_and_no_overrun_but_the_first_batch(spike, deadline, fast, want, spells):
    """Whatever the spell, each decision ends by its deadline unless its first batch alone overran it, and
    once batches are fast (fast < deadline / 2), a decision runs every batch it wants after at most
    ceil(log2(spike / deadline)) + 1 fast batches have been measured."""
    fast = fast * deadline / 2
    clock, estimate = FakeClock(), BatchTimeEstimate()
    for _ in range(spells):
        run_decision(clock, estimate, deadline, spike, want)
    measured = 0
    bound = (math.ceil(math.log2(spike / deadline)) + 1) if spike > deadline / 2 else 0
    for _ in range(bound + 2):
        started = clock()
        ran = run_decision(clock, estimate, deadline, fast, want)
        assert ran >= 1
        assert clock() - started <= deadline + 1e-9 or ran == 1
        if measured >= bound:
            assert ran == want or clock() - started + fast > deadline - 1e-9
        measured += ran
