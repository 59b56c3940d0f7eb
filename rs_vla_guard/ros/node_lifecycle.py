"""The guard node's parameter descriptors and callback, and its hardened lifecycle service. A part of
:class:`~.guard_node.GuardNode`."""
from __future__ import annotations

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult

from .. import settings as P
from ..text import printable


def descriptor(param: P.Param) -> ParameterDescriptor:
    text = param.description
    if param.choices:
        text += f" (one of: {', '.join(param.choices)})"
    descriptor = ParameterDescriptor(description=text, read_only=param.read_only)
    if param.kind is float and param.low is not None and param.high is not None:
        descriptor.floating_point_range = [FloatingPointRange(from_value=float(param.low), to_value=float(param.high))]
    elif param.kind is int and param.low is not None and param.high is not None:
        descriptor.integer_range = [IntegerRange(from_value=int(param.low), to_value=int(param.high), step=1)]
    return descriptor


class LifecycleMixin:
    """Runtime parameter changes (validated as files are) and lifecycle requests that must not crash."""

    def _harden_change_state_service(self) -> None:
        """Answer lifecycle requests that have no transition from the current state with success false.

        rclpy 7.1.6 raises RCLError ('Transition is not registered') out of the change_state service for
        them, which ends the process (ros2/rclpy#1209, fixed upstream by #1319)."""
        service = getattr(self, "_service_change_state", None)
        if service is None:
            return
        transition = service.callback

        def change_state(request, response):
            if not self._transition_lock.acquire(blocking=False):
                self.get_logger().warning("refused a lifecycle request: another transition is in progress")
                response.success = False
                return response
            try:
                current = self._state_machine.current_state[1]
                asked = request.transition.label or str(request.transition.id)
                available = self._state_machine.available_transitions
                if not any(asked in (label, str(transition_id)) for transition_id, label, *_ in available):
                    self.get_logger().warning(f"refused lifecycle transition '{printable(asked, 40)}': none from "
                                              f"state '{current}' (available: {', '.join(t[1] for t in available)})")
                    response.success = False
                    return response
                return transition(request, response)
            except Exception as error:  # whatever the state machine raises, answer and keep running
                self._log_error(f"lifecycle request failed: {type(error).__name__}: {error}")
                response.success = False
                return response
            finally:
                self._transition_lock.release()
                self._publish_state()

        service.callback = change_state

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        changes = {p.name: p.value for p in parameters if p.name in P.SCHEMA}
        if not changes:
            return SetParametersResult(successful=True)
        changes = {k: list(v) if isinstance(v, (list, tuple)) or type(v).__name__ == "array" else v
                   for k, v in changes.items()}
        try:
            if self._configured is None:  # unconfigured: the parameters are still being set up
                merged = P.effective({**self._snapshot, **changes})
            else:  # configured: safety limits may only be tightened until the next configure
                merged = P.runtime_change(self._configured, self._snapshot, changes)
                guard = self.guard
                problems = guard.settings_problems(merged) if guard is not None else []
                if problems:  # valid on its own, but not for this policy: refused, the old settings stay
                    raise P.ConfigError(problems)
        except P.ConfigError as error:
            return SetParametersResult(successful=False, reason=printable("; ".join(error.problems), 2000))
        with self._publish_lock:  # no publication straddles the swap
            rate_changed = merged["control_rate_hz"] != self._snapshot["control_rate_hz"]
            self._snapshot = merged
            self._config_problems = []
        if rate_changed and self._active:
            self._start_timers()
        return SetParametersResult(successful=True)
