"""The guard node's decision thread and control timers: one thread for the node's whole life, woken by the
control timer, and the keep-alive timer that holds. A part of :class:`~.guard_node.GuardNode`."""
from __future__ import annotations

import threading

from .. import actions as A

JOIN_TIMEOUT_S = 2.0  # how long shutdown waits for a running decision before leaving it behind
# The keep-alive fires this many control periods after the last publication. Above 1, so it does not race
# the decision due one period after the last; the longest gap between commands stays well under 1.5.
KEEPALIVE_PERIODS = 1.2


class DecisionThreadMixin:
    """Start and stop the decision thread and the timers; the loop that survives anything a policy raises."""

    def _start_decisions(self) -> None:
        # One decision thread for the node's whole life, started on the first activation: a new thread per
        # activation would get a new malloc arena each time (up to 8 per core), and memory would creep.
        thread = self._decision_thread
        if thread is None or not thread.is_alive():
            self._start_decision_thread()
        self._start_timers()

    def _start_decision_thread(self) -> None:
        # Decisions run on one dedicated thread, not in an executor callback: a callback that runs for a
        # whole decision keeps its timer ready-but-blocked, and the executor then spins on it.
        self._decision_thread = threading.Thread(target=self._decision_loop, args=(self._tick, self._worker_stop),
                                                 name="rs_vla_guard_decisions", daemon=True)
        self._decision_thread.start()

    def _start_timers(self) -> None:
        for timer in self._control_timers:
            self.destroy_timer(timer)
        period = 1.0 / self._snapshot["control_rate_hz"]
        self._keepalive = self.create_timer(KEEPALIVE_PERIODS * period, self._hold)
        self._control_timers = [self.create_timer(period, self._tick.set), self._keepalive]

    def _stop_decisions(self, *, end_thread: bool = False) -> None:
        """Stop the control timers (no new decisions start); a running decision can no longer publish,
        since the node is not active. ``end_thread`` (shutdown): also end the decision thread."""
        for timer in self._control_timers:
            self.destroy_timer(timer)
        self._control_timers, self._keepalive = [], None
        if end_thread:
            self._worker_stop.set()
            self._tick.set()
            thread = self._decision_thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(JOIN_TIMEOUT_S)  # a hung policy is left behind
            self._decision_thread = None

    def _decision_loop(self, tick: threading.Event, stop: threading.Event) -> None:
        while not stop.is_set():
            if not tick.wait(0.1):
                continue
            tick.clear()
            if stop.is_set():
                break
            try:
                self._control_step()
            except BaseException as error:  # SystemExit or KeyboardInterrupt from a policy is a fault too
                self._policy_failed(f"{type(error).__name__}: {error}")
                try:
                    self._publish_stop(A.POLICY_ERROR, f"{type(error).__name__}: {error}",
                                       frame_time=self._deciding_frame_time)
                except Exception as publish_error:
                    self._log_error(f"could not publish a stop: {publish_error}")
