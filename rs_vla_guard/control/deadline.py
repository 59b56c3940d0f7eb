"""The real-time budget of one decision (docs/theory.md, section 10), with the clock passed in.

A decision must answer within ``deadline_s``. Before every sampling batch the sequential tests ask
:meth:`DecisionTimer.out_of_time`: would one more batch end past the deadline? The answer needs the time
of a batch, which only measurement can give and which changes (a CUDA warm-up, a garbage collection, a
busy neighbour). Two rules keep that estimate honest without letting a slow spell stop the robot for good:

1. **Every decision runs its first batch** unless the time already spent is past the deadline. An
   estimate is only refreshed by batches that run; if a slow spell could make a decision skip its first
   batch, no batch would ever run again and every later decision would stop (``deadline_exceeded``)
   until a restart.
2. **Every batch refreshes the estimate**, a decaying maximum: ``estimate = max(last batch,
   decay * estimate)``. It rises at once to a slow batch (a decision would rather end a look early than
   overrun) and forgets it geometrically: after a spike of s seconds, the estimate is back under the
   deadline d after ``ceil(log(s / d) / log(1 / decay))`` fast batches (one batch for s < 2d at the
   default decay of 1/2).

The time between two questions of one decision is one batch and its bookkeeping (statistics), which is
what the next batch will cost too. The first question of a decision measures nothing (what came before
it is input conversion, not a batch).
"""
from __future__ import annotations

import time
from typing import Callable, Optional

Clock = Callable[[], float]

DEFAULT_DECAY = 0.5


class BatchTimeEstimate:
    """The expected seconds of one sampling batch: a decaying maximum of the batches measured.

    ``observe(t)`` sets ``seconds = max(t, decay * seconds)``; ``seed(t)`` replaces the estimate (the
    configure-time warm-up's measurement). Shared by all decisions of one guard."""

    def __init__(self, decay: float = DEFAULT_DECAY, seconds: float = 0.0):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        if not seconds >= 0.0:
            raise ValueError(f"a batch time must be >= 0 seconds, got {seconds}")
        self.decay = decay
        self.seconds = float(seconds)
        self.batches = 0  # batches observed since the last seed

    def observe(self, seconds: float) -> None:
        """One batch took ``seconds``: the estimate rises to it, or decays towards it."""
        self.seconds = max(float(seconds), self.decay * self.seconds)
        self.batches += 1

    def seed(self, seconds: float) -> None:
        """Start from a measured batch time (the warm-up at configure)."""
        if not seconds >= 0.0:
            raise ValueError(f"a batch time must be >= 0 seconds, got {seconds}")
        self.seconds, self.batches = float(seconds), 0


class DecisionTimer:
    """One decision's deadline: :meth:`out_of_time` is the question asked before every batch.

    ``deadline_s`` None means no deadline (a replay or a command-line decision: results do not depend on
    timing). ``clock`` returns seconds (``time.perf_counter`` by default; tests pass a fake one)."""

    def __init__(self, deadline_s: Optional[float], estimate: BatchTimeEstimate, clock: Clock = time.perf_counter,
                 started: Optional[float] = None):
        self.deadline_s = deadline_s
        self.estimate = estimate
        self.clock = clock
        self.started = clock() if started is None else started
        self._last_question: Optional[float] = None  # when out_of_time was last asked
        self._batch_running = False  # the last answer was "go on": a batch runs until the next question

    def spent(self) -> float:
        """Seconds since the decision started."""
        return self.clock() - self.started

    def out_of_time(self) -> bool:
        """Would one more batch end past the deadline? Refreshes the estimate with the batch that ran since
        the last question; always False before the decision's first batch unless the deadline has passed."""
        now = self.clock()
        first = self._last_question is None
        if self._batch_running:
            self.estimate.observe(now - self._last_question)
        self._last_question = now
        if self.deadline_s is None:
            answer = False
        else:
            spent = now - self.started
            answer = spent > self.deadline_s or (not first and spent + self.estimate.seconds > self.deadline_s)
        self._batch_running = not answer
        return answer

    def finish(self) -> None:
        """The decision is over: the batch that ran after the last question refreshes the estimate too (a
        decision that certifies after its first batch still measures it)."""
        if self._batch_running:
            self.estimate.observe(self.clock() - self._last_question)
            self._batch_running = False

    def overran(self) -> bool:
        """Did the decision end past its deadline (the first batch may; the published command then stops)?"""
        return self.deadline_s is not None and self.spent() > self.deadline_s
