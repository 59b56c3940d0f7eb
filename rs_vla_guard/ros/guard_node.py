"""The ROS 2 guard node (lifecycle node ``rs_vla_guard``, executable ``guard_node``).

Topics (relative names, so they remap):
  sub  image        sensor_msgs/Image, sensor-data QoS, depth 1 (only the latest frame is processed)
  sub  instruction  std_msgs/String, reliable + transient local, depth 1
  sub  cmd_vel_in   geometry_msgs/TwistStamped (Twist with use_stamped false), gate mode only
  pub  action       std_msgs/String: certified action, or the safe action
  pub  cmd_vel      geometry_msgs/TwistStamped (or Twist): the published action's twist, zero on stop
  pub  certificate  diagnostic_msgs/DiagnosticStatus, one per published command
  pub  /diagnostics diagnostic_msgs/DiagnosticArray, 1 Hz

Threads: decisions run on one dedicated thread, woken by the control timer; every executor callback
(inputs, parameters, lifecycle, watchdog, diagnostics) is short, so a single-threaded executor serves
them all while inference is busy. (rclpy's MultiThreadedExecutor busy-spins while a long callback runs,
ros2/rclpy#1452, which here took a core away from inference and doubled decision latency.) Decisions get
``deadline_s``: the sequential test draws no batch that would end after it and stops with
``deadline_exceeded`` instead (valid: a certificate can only come from a scheduled look). As a
backstop, the watchdog publishes ``deadline_exceeded`` stops at the control rate while a decision
overruns anyway (one slow batch), so the robot never goes without a command.
"""
from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter, deque
from dataclasses import replace
from typing import Any, Dict, Optional

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import Twist, TwistStamped
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import Image
from std_msgs.msg import String

from .. import actions as A
from .. import params as P
from ..guard import Decision, stop_decision
from ..oracles import BinningOracle
from . import messages, qos
from .executors import spin_until_shutdown


def _descriptor(param: P.Param) -> ParameterDescriptor:
    text = param.description
    if param.choices:
        text += f" (one of: {', '.join(param.choices)})"
    descriptor = ParameterDescriptor(description=text, read_only=param.read_only)
    if param.kind is float and param.low is not None and param.high is not None:
        descriptor.floating_point_range = [FloatingPointRange(from_value=float(param.low), to_value=float(param.high))]
    elif param.kind is int and param.low is not None and param.high is not None:
        descriptor.integer_range = [IntegerRange(from_value=int(param.low), to_value=int(param.high), step=1)]
    return descriptor


class GuardNode(LifecycleNode):
    """Certifies each control step's VLA action and publishes it, or an explicit stop with a reason."""

    def __init__(self, guard_factory=None, **kwargs):
        super().__init__(P.NODE_NAME, **kwargs)
        # guard_factory(params) -> Guard; tests and tools may wrap the policy (default: Guard.from_config).
        self._guard_factory = guard_factory
        self._declare_problems = []
        for param in P.PARAMETERS:
            try:
                self.declare_parameter(param.name, param.default, _descriptor(param))
            except Exception as error:  # out-of-range or wrongly typed override from a params file
                self._declare_problems.append(f"{param.name}: {error}")
                self.declare_parameter(param.name, param.default, _descriptor(param),
                                       ignore_override=True)
        self.params: Dict[str, Any] = {}
        self._config_problems = list(self._declare_problems)
        try:
            self.params = P.effective({p.name: self.get_parameter(p.name).value for p in P.PARAMETERS})
        except P.ConfigError as error:
            self._config_problems += error.problems
            self.params = P.defaults()
        self.guard = None
        self._lock = threading.Lock()
        self._frame_msg: Optional[Image] = None
        self._frame_received = None  # node-clock time of reception
        self._instruction: Optional[str] = None
        self._instruction_received = None
        self._command = None  # (linear_x, angular_z, node-clock time)
        self._inference_started: Optional[float] = None  # monotonic seconds
        self._pending_changes: Dict[str, Any] = {}
        self._active = False
        self._control_timers = []
        self._input_subscriptions = []
        self._publishers_ready = False
        self._stats = Counter()
        self._reasons = Counter()
        self._latencies = deque(maxlen=50)
        self._publish_times = deque(maxlen=50)
        self._frame_times = deque(maxlen=50)
        self._last_error = ""
        self._last_error_logged = 0.0
        self._last_reason: Optional[str] = None
        self._state_label = "unconfigured"
        self._gate_oracle = BinningOracle(self.params["actions"]) if A.STOP in self.params["actions"] else None
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diagnostics_timer = self.create_timer(1.0, self._publish_diagnostics)
        if self._config_problems:
            self.get_logger().error("invalid parameters: " + "; ".join(self._config_problems))

    # ------------------------------------------------------------------ lifecycle

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._config_problems:
            self.get_logger().error("cannot configure, invalid parameters: " + "; ".join(self._config_problems))
            return TransitionCallbackReturn.FAILURE
        try:
            started = time.perf_counter()
            if self._guard_factory is not None:
                self.guard = self._guard_factory(dict(self.params))
            else:
                from ..guard import Guard

                self.guard = Guard.from_config(dict(self.params))
            self._warm_up()
            self.get_logger().info(
                f"configured: model {self.guard.policy.model_id} ({self.guard.mode} mode) on "
                f"{self.guard.policy.device} in {time.perf_counter() - started:.1f}s, config {self.guard.config_hash}")
        except Exception as error:  # a model that cannot load or is blind: FAILURE, not a crash
            self.guard = None
            self._last_error = f"configure failed: {error}"
            self.get_logger().error(self._last_error)
            return TransitionCallbackReturn.FAILURE
        stamped = self.params["use_stamped"]
        twist_type = TwistStamped if stamped else Twist
        self._action_pub = self.create_lifecycle_publisher(String, "action", qos.COMMANDS)
        self._cmd_pub = self.create_lifecycle_publisher(twist_type, "cmd_vel", qos.COMMANDS)
        self._certificate_pub = self.create_lifecycle_publisher(DiagnosticStatus, "certificate", qos.COMMANDS)
        self._publishers_ready = True
        self._input_subscriptions = [
            self.create_subscription(Image, "image", self._on_image, qos.SENSOR_DATA),
            self.create_subscription(String, "instruction", self._on_instruction, qos.LATCHED),
        ]
        if self.params["gate_mode"]:
            self._input_subscriptions.append(self.create_subscription(
                twist_type, "cmd_vel_in", self._on_command, qos.COMMANDS))
        self._state_label = "inactive"
        return TransitionCallbackReturn.SUCCESS

    def _warm_up(self) -> None:
        import numpy as np

        self.guard.decide(np.zeros((64, 64, 3), np.uint8), "go to the red block")

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)
        self._active = True
        self._start_timers()
        self._state_label = "active"
        self.get_logger().info(f"active: deciding at {self.params['control_rate_hz']} Hz")
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = False
        self._stop_timers()
        self._publish_stop(A.INACTIVE, "node deactivated")
        self._state_label = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self._state_label = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._active:
            self._publish_stop(A.INACTIVE, "node shutting down")
        self._active = False
        self._stop_timers()
        self._release()
        self._state_label = "finalized"
        return TransitionCallbackReturn.SUCCESS

    def _release(self) -> None:
        for subscription in self._input_subscriptions:
            self.destroy_subscription(subscription)
        self._input_subscriptions = []
        if self._publishers_ready:
            self._publishers_ready = False
            for publisher in (self._action_pub, self._cmd_pub, self._certificate_pub):
                self.destroy_lifecycle_publisher(publisher)
        if self.guard is not None:
            self.guard.release()  # frees model memory, GPU included
            self.guard = None
        with self._lock:
            self._frame_msg = self._instruction = self._command = None

    def _start_timers(self) -> None:
        period = 1.0 / self.params["control_rate_hz"]
        self._tick = threading.Event()
        self._worker_stop = threading.Event()
        # Decisions run on one dedicated thread, not in an executor callback: a callback that runs for a
        # whole decision keeps its timer ready-but-blocked, and the executor then spins on it, taking a
        # core (and the GIL) away from inference. The timer only signals the worker, which takes the
        # latest frame when it starts; ticks during a decision coalesce into one.
        self._decision_thread = threading.Thread(target=self._decision_loop, args=(self._tick, self._worker_stop),
                                                 name="rs_vla_guard_decisions", daemon=True)
        self._decision_thread.start()
        self._control_timers = [
            self.create_timer(period, self._tick.set),
            self.create_timer(period, self._watchdog),
        ]

    def _stop_timers(self) -> None:
        for timer in self._control_timers:
            self.destroy_timer(timer)
        self._control_timers = []
        if getattr(self, "_worker_stop", None) is not None:
            self._worker_stop.set()  # the worker ends after its current decision (never joined: it may be slow)

    def _decision_loop(self, tick: threading.Event, stop: threading.Event) -> None:
        while not stop.is_set():
            if not tick.wait(0.1):
                continue
            tick.clear()
            if stop.is_set():
                break
            try:
                self._control_step()
            except Exception as error:  # never let the decision thread die silently
                self._log_error(f"control step failed: {type(error).__name__}: {error}")
                try:
                    self._publish_stop(A.POLICY_ERROR, str(error))
                except Exception:
                    pass

    # ------------------------------------------------------------------ inputs

    def _on_image(self, msg: Image) -> None:
        with self._lock:
            self._frame_msg = msg
            self._frame_received = self.get_clock().now()
        self._frame_times.append(time.monotonic())

    def _on_instruction(self, msg: String) -> None:
        with self._lock:
            self._instruction = msg.data
            self._instruction_received = self.get_clock().now()

    def _on_command(self, msg) -> None:
        linear_x, angular_z = messages.twist_of_msg(msg)
        with self._lock:
            self._command = (linear_x, angular_z, self.get_clock().now())

    def _image_age(self, msg: Image, received, now) -> float:
        stamp = messages.stamp_seconds(msg.header.stamp)
        reference = stamp if stamp > 0 else received.nanoseconds * 1e-9  # unstamped: time of reception
        return now.nanoseconds * 1e-9 - reference

    # ------------------------------------------------------------------ deciding

    def _control_step(self) -> None:
        if not self._active or self.guard is None:
            return
        now = self.get_clock().now()
        with self._lock:
            msg, received = self._frame_msg, self._frame_received
            instruction, instruction_received = self._instruction, self._instruction_received
            changes, self._pending_changes = self._pending_changes, {}
        if changes:
            self.guard.update(**changes)
        params = self.guard.params
        if msg is None:
            return self._publish_stop(A.NO_IMAGE, "no frame received yet")
        age = self._image_age(msg, received, now)
        if age > params["image_timeout_s"] or age < -params["image_timeout_s"]:
            return self._publish_stop(A.STALE_IMAGE, f"frame is {age:.3f}s old", image_age=age)
        if instruction is None or not instruction.strip():
            return self._publish_stop(A.NO_INSTRUCTION, "no instruction received", image_age=age)
        timeout = params["instruction_timeout_s"]
        if timeout > 0 and (now - instruction_received).nanoseconds * 1e-9 > timeout:
            return self._publish_stop(A.NO_INSTRUCTION, "instruction is stale", image_age=age)
        try:
            frame = messages.frame_from_image_msg(msg)
        except messages.InvalidImage as error:
            return self._publish_stop(A.INVALID_IMAGE, str(error), image_age=age)
        with self._lock:
            self._inference_started = time.monotonic()
        try:
            decision = self.guard.decide(frame, instruction, deadline_s=params["deadline_s"])
        finally:
            with self._lock:
                self._inference_started = None
        if not self._active:
            return
        if decision.latency_ms > params["deadline_s"] * 1e3:
            return self._publish_stop(A.DEADLINE_EXCEEDED, f"decision took {decision.latency_ms:.0f} ms",
                                      decision=decision, image_age=age)
        if decision.error:
            self._log_error(f"{decision.reason}: {decision.error}")
        self._publish_decision(decision, age)

    def _watchdog(self) -> None:
        """While a decision overruns its deadline, publish a stop every control period (never silence)."""
        with self._lock:
            started = self._inference_started
        if self._active and started is not None:
            overrun = time.monotonic() - started
            if overrun > self.params["deadline_s"]:
                self._publish_stop(A.DEADLINE_EXCEEDED, f"decision running for {overrun:.2f}s")

    def _publish_decision(self, decision: Decision, image_age: float) -> None:
        twist = A.twist_of(self.params, decision.action)
        if self.params["gate_mode"] and decision.certified:
            decision, twist = self._gate(decision)
        self._publish(decision, twist, image_age)

    def _gate(self, decision: Decision):
        """Gate mode: forward the upstream command only when its direction is the certified action (or one
        of the certified fallback set's members); otherwise a stop with the reason."""
        with self._lock:
            command = self._command
        now = self.get_clock().now()
        if command is None or (now - command[2]).nanoseconds * 1e-9 > self.params["image_timeout_s"]:
            return self._as_stop(decision, A.NO_COMMAND, "no fresh upstream command"), (0.0, 0.0)
        label = self._gate_oracle.label_of(command[0], command[1])
        if label not in A.members_of(self.params, decision.action):
            return self._as_stop(decision, A.DISAGREES_WITH_COMMAND, f"upstream command is {label}"), (0.0, 0.0)
        return decision, A.capped(self.params, command[0], command[1])

    def _as_stop(self, decision: Decision, reason: str, detail: str) -> Decision:
        """``decision`` turned into a stop for ``reason`` (its statistics kept for the certificate)."""
        return replace(decision, action=self.params["safe_action"], certified=False, reason=reason, error=detail)

    def _publish_stop(self, reason: str, detail: str = "", decision: Optional[Decision] = None,
                      image_age: Optional[float] = None) -> None:
        if decision is None:
            guard = self.guard
            decision = stop_decision(self.params, reason, detail, model_id=guard.policy.model_id if guard else "",
                                     mode=guard.mode if guard else "")
        else:
            decision = self._as_stop(decision, reason, detail)
        self._publish(decision, (0.0, 0.0), image_age)

    def _publish(self, decision: Decision, twist, image_age: Optional[float]) -> None:
        if not self._publishers_ready:
            return
        self._action_pub.publish(String(data=decision.action))
        self._cmd_pub.publish(messages.twist_msg(*twist, stamped=self.params["use_stamped"],
                                                 stamp=self.get_clock().now().to_msg(),
                                                 frame_id=self.params["frame_id"]))
        self._certificate_pub.publish(messages.certificate_status(
            decision.to_dict(), name=f"{self.get_name()}: certificate", image_age_s=image_age))
        self._stats["published"] += 1
        self._stats["certified"] += decision.certified
        self._reasons[decision.reason] += 1
        self._last_reason = decision.reason
        self._publish_times.append(time.monotonic())
        if decision.n_samples:
            self._latencies.append(decision.latency_ms)

    def _log_error(self, message: str) -> None:
        self._last_error = message
        if time.monotonic() - self._last_error_logged > 5.0:  # once per burst, not once per frame
            self._last_error_logged = time.monotonic()
            self.get_logger().error(message)

    # ------------------------------------------------------------------ parameters

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        changes = {p.name: p.value for p in parameters if p.name in P.SCHEMA}
        if not changes:
            return SetParametersResult(successful=True)
        merged = dict(self.params)
        merged.update({k: list(v) if isinstance(v, (list, tuple)) or type(v).__name__ == "array" else v
                       for k, v in changes.items()})
        try:
            merged = P.effective(merged)
        except P.ConfigError as error:
            return SetParametersResult(successful=False, reason="; ".join(error.problems))
        rate_changed = merged["control_rate_hz"] != self.params["control_rate_hz"]
        self.params = merged
        self._config_problems = []
        with self._lock:
            self._pending_changes.update({k: merged[k] for k in changes})
        if rate_changed and self._active:
            self._stop_timers()
            self._start_timers()
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ diagnostics

    def _rate(self, times) -> float:
        recent = [t for t in times if time.monotonic() - t < 5.0]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)

    def _publish_diagnostics(self) -> None:
        if self._config_problems or (self._state_label == "unconfigured" and self._last_error):
            level, message = DiagnosticStatus.ERROR, self._last_error or "invalid parameters"
        elif self._state_label != "active":
            level, message = DiagnosticStatus.WARN, f"{self._state_label}: not publishing commands"
        else:
            with self._lock:
                running = self._inference_started
            if running is not None and time.monotonic() - running > self.params["deadline_s"]:
                level, message = DiagnosticStatus.WARN, "decision overrunning its deadline"
            elif self._last_reason not in (None, A.CERTIFIED):
                level, message = DiagnosticStatus.WARN, f"active; last step stopped: {self._last_reason}"
            else:
                level, message = DiagnosticStatus.OK, "active"
        latencies = list(self._latencies)
        values = {
            "lifecycle_state": self._state_label,
            "published": str(self._stats["published"]),
            "certified": str(self._stats["certified"]),
            "stop_reasons": json.dumps({k: v for k, v in self._reasons.items() if k != A.CERTIFIED}),
            "publish_rate_hz": f"{self._rate(self._publish_times):.2f}",
            "image_rate_hz": f"{self._rate(self._frame_times):.2f}",
            "mean_latency_ms": f"{sum(latencies) / len(latencies):.1f}" if latencies else "",
            "last_error": self._last_error,
            "config_hash": P.config_hash(self.guard.params if self.guard is not None else self.params),
            "model_id": self.guard.policy.model_id if self.guard is not None else "",
            "config_problems": "; ".join(self._config_problems),
        }
        array = DiagnosticArray(status=[messages.status(f"{self.get_name()}: guard", level, message, values,
                                                        hardware_id=values["model_id"])])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_pub.publish(array)


def run(node: GuardNode) -> None:
    """Spin ``node`` (decisions run on its own thread), self-activating unless ``autostart`` is false; on
    shutdown an active node publishes a last stop while the ROS context is still valid."""
    if node.params["autostart"]:
        if node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            node.trigger_activate()

    def final_stop() -> None:
        if node._active:
            try:
                node._publish_stop(A.INACTIVE, "node shutting down")
            except Exception as error:  # the context may already be gone; nothing else to do
                node.get_logger().warning(f"could not publish the final stop: {error}")

    spin_until_shutdown(node, on_exit=final_stop)


def main(args=None, node_factory=GuardNode) -> None:
    """Entry point of ``guard_node``; ``node_factory`` builds the node once ROS is initialised."""
    # Own signal handling: SIGINT/SIGTERM raise KeyboardInterrupt in the spinning thread, so the final
    # stop is published while the ROS context is still valid.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    run(node_factory())


if __name__ == "__main__":
    main()
