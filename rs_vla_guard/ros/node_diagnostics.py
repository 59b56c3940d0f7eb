"""The guard node's health: ``/diagnostics`` at 1 Hz and the latched ``~/state`` topic (lifecycle state, enable,
e-stop, last reason, rates, the real-time budget). A part of :class:`~.guard_node.GuardNode`."""
from __future__ import annotations

import json
import time
from typing import Any, Dict

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

from .. import actions as A
from .. import settings as P
from ..control.budget import BUDGET_KEYS
from ..text import printable
from . import messages


class DiagnosticsMixin:
    """Health judged over a window, the budget, and their publication."""

    def _rate(self, times) -> float:
        recent = [t for t in times if time.monotonic() - t < 5.0]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)

    def _window(self, snapshot: Dict[str, Any]):
        """(commands, certified) published within ``diagnostics_window_s``."""
        horizon = time.monotonic() - snapshot["diagnostics_window_s"]
        with self._publish_lock:
            while self._recent and self._recent[0][0] < horizon:
                self._recent.popleft()
            recent = list(self._recent)
        return len(recent), sum(certified for _, certified in recent)

    def _health(self, snapshot: Dict[str, Any]):
        """(level, message): ERROR for faults (bad parameters, a failing policy); WARN while not active, stopped
        by the e-stop or the enable service, overrunning, or when at least ``diagnostics_warn_stop_fraction``
        of the window's commands were stops; OK otherwise. Judged over a window, so one stop is no alarm."""
        with self._lock:
            running = self._inference_started
        if self._config_problems or (self._state_label == "unconfigured" and self._last_error):
            return DiagnosticStatus.ERROR, self._last_error or "invalid parameters"
        if self._state_label != "active":
            return DiagnosticStatus.WARN, f"{self._state_label}: not publishing commands"
        if self._policy_fault is not None:
            return DiagnosticStatus.ERROR, f"policy failing, every step stops: {self._policy_fault}"
        blocked = self._blocked(snapshot)
        if blocked is not None:
            return DiagnosticStatus.WARN, f"stopped: {blocked[1]}"
        if running is not None and time.monotonic() - running > snapshot["deadline_s"]:
            return DiagnosticStatus.WARN, "decision overrunning its deadline"
        budget = self._budget(snapshot)
        if budget is not None and not budget.threshold_certifiable:
            return DiagnosticStatus.WARN, budget.reason()
        commands, certified = self._window(snapshot)
        window = snapshot["diagnostics_window_s"]
        if commands == 0:
            return DiagnosticStatus.WARN, f"active; no command in the last {window:g} s"
        stopped = (commands - certified) / commands
        message = f"active; {100 * (1 - stopped):.0f}% of {commands} commands certified in the last {window:g} s"
        if stopped >= snapshot["diagnostics_warn_stop_fraction"]:
            return DiagnosticStatus.WARN, message
        return DiagnosticStatus.OK, message

    def _budget(self, snapshot: Dict[str, Any]):
        """The real-time budget of ``snapshot`` on this machine (from the configure-time warm-up), or None
        while no guard is configured or the snapshot is one the guard cannot compute it for."""
        guard = self.guard
        if guard is None or guard.warmup is None:
            return None
        try:
            return guard.budget(snapshot)
        except Exception as error:  # diagnostics must go out whatever the figures do
            self._log_error(f"budget: {error}")
            return None

    def _publish_state(self) -> None:
        """The latched state topic (``~/state``), on change: lifecycle state, enabled, e-stop, last reason."""
        snapshot = self._snapshot
        blocked = self._blocked(snapshot)
        key = (self._state_label, self._enabled, blocked[0] if blocked else "", self._last_reason)
        if key == self._state_key:
            return
        self._state_key = key
        level, message = self._health(snapshot)
        values = {"lifecycle_state": self._state_label, "enabled": str(self._enabled).lower(),
                  "estop": str(bool(blocked) and blocked[0] == A.ESTOP).lower(), "last_reason": self._last_reason or "",
                  "publish_rate_hz": f"{self._rate(self._publish_times):.2f}", "config_hash": P.config_hash(snapshot)}
        try:
            self._state_pub.publish(messages.status(f"{self.get_name()}: state", level, printable(message), values))
        except Exception as error:  # a context going away during shutdown
            self._log_error(f"could not publish the state: {error}")

    def _publish_diagnostics(self) -> None:
        snapshot = self._snapshot
        level, message = self._health(snapshot)
        commands, certified = self._window(snapshot)
        latencies = list(self._latencies)
        guard = self.guard
        values = {
            "lifecycle_state": self._state_label,
            "published": str(self._stats["published"]),
            "certified": str(self._stats["certified"]),
            "window_commands": str(commands),
            "window_certified": str(certified),
            "stop_reasons": json.dumps({k: v for k, v in self._reasons.items() if k != A.CERTIFIED}),
            "publish_rate_hz": f"{self._rate(self._publish_times):.2f}",
            "image_rate_hz": f"{self._rate(self._frame_times):.2f}",
            "mean_latency_ms": f"{sum(latencies) / len(latencies):.1f}" if latencies else "",
            "enabled": str(self._enabled).lower(),
            "last_error": self._last_error,
            "config_hash": P.config_hash(snapshot),
            "model_id": guard.policy.model_id if guard is not None else "",
            "torch_threads": str(guard.torch_threads) if guard is not None else "",
            "torch_compile": json.dumps(guard.compile_report) if guard is not None else "",
            "config_problems": printable("; ".join(self._config_problems), 2000),
        }
        # The real-time budget (docs/theory.md, section 10): batch time measured at configure, what fits in deadline_s.
        budget = self._budget(snapshot)
        values["warmup_first_batch_ms"] = f"{guard.warmup['first_batch_s'] * 1e3:.1f}" if budget is not None else ""
        for key in BUDGET_KEYS:
            value = getattr(budget, key) if budget is not None else ""
            values[f"budget_{key}"] = (str(value).lower() if isinstance(value, bool) else
                                       f"{value:.6g}" if isinstance(value, float) else str(value))
        array = DiagnosticArray(status=[messages.status(f"{self.get_name()}: guard", level, printable(message),
                                                        values, hardware_id=values["model_id"])])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_pub.publish(array)
        self._publish_state()
