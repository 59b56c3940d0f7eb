"""The ROS 2 guard node (lifecycle node ``rs_vla_guard``, executable ``guard_node``).

Topics (relative names, so they remap):
  sub  image        sensor_msgs/Image, sensor-data QoS, depth 1 (only the latest frame is processed)
  sub  instruction  std_msgs/String, reliable + transient local, depth 1
  sub  cmd_vel_in   geometry_msgs/TwistStamped (Twist with use_stamped false), gate mode only
  pub  action       std_msgs/String: certified action, or the safe action
  pub  cmd_vel      geometry_msgs/TwistStamped (or Twist): the published action's twist, zero on stop
  pub  certificate  diagnostic_msgs/DiagnosticStatus, one per published command
  pub  /diagnostics diagnostic_msgs/DiagnosticArray, 1 Hz

The promise: a non-stop command only with a valid certificate for a fresh frame; an explicit stop with a
reason on every other control step; nothing that arrives (messages, parameter or lifecycle requests, a
policy that raises anything) takes the node down.

How it is kept:
- Parameters live in one immutable snapshot, swapped atomically with respect to publications; every
  published command (action, twist and certificate) is a :class:`~rs_vla_guard.guard.Decision` made
  under one snapshot, whose hash the certificate carries.
- Decisions run on one dedicated thread, woken by the control timer (ticks during a decision coalesce),
  and are published as soon as they are made. A keep-alive timer, re-armed by every publication, fires
  when 1.2 control periods pass without one and publishes a *hold*: the latest command again while its
  frame is still younger than ``image_timeout_s`` under the same snapshot and instruction (the rule a
  live decision obeys, so no certificate is stretched; in gate mode re-checked against the upstream
  command), else a stop with the reason. Every publication also re-checks that rule, so a decision that
  took too long goes out as ``stale_image``.
- Every executor callback (inputs, parameters, lifecycle, timers, diagnostics) is short, so a
  single-threaded executor serves them all while inference runs. (rclpy's MultiThreadedExecutor
  busy-spins while a long callback runs, ros2/rclpy#1452, which took a core away from inference.)
- The decision thread turns anything a policy raises, ``SystemExit`` and ``KeyboardInterrupt``
  included, into ``policy_error`` stops and ERROR diagnostics, and keeps deciding; the keep-alive timer
  restarts it should it ever end.
- A lifecycle request the current state has no transition for is answered ``success: false`` (rclpy
  7.1.6 would raise out of the service and end the process, ros2/rclpy#1209).
"""
from __future__ import annotations

import gc
import json
import signal
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, replace
from typing import Any, Dict, Optional

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import Twist, TwistStamped
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, Float32MultiArray, String
from std_srvs.srv import SetBool

from .. import actions as A
from .. import params as P
from ..control.budget import BUDGET_KEYS
from ..control.inputs import InputLatch, Inputs, joint_state_values
from ..control.rules import deadline_stop, gate, hold, input_stop, publication_stop, safety_stop
from ..guard import Decision, Guard, stop_decision
from ..oracles import BinningOracle
from ..text import printable
from . import messages, qos
from .executors import spin_until_shutdown

JOIN_TIMEOUT_S = 2.0  # how long shutdown waits for a running decision before leaving it behind
# The keep-alive fires this many control periods after the last publication. Above 1, so it does not race
# the decision due one period after the last; the longest gap between commands stays well under 1.5.
KEEPALIVE_PERIODS = 1.2
AUTOSTART_JOIN_TIMEOUT_S = 30.0  # how long an exit waits for a model load still running


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


@dataclass(frozen=True)
class Published:
    """The latest command out, and what a hold needs to decide whether it may go out again."""

    decision: Decision
    snapshot: Dict[str, Any]
    frame_time: Optional[float]  # the frame's time (stamp, or reception when unstamped), node clock seconds
    instruction: Optional[str]
    gated: Optional[Decision] = None  # gate mode: the certified decision before the upstream command was applied


class GuardNode(LifecycleNode):
    """Certifies each control step's VLA action and publishes it, or an explicit stop with a reason."""

    def __init__(self, guard_factory=None, **kwargs):
        super().__init__(P.NODE_NAME, **kwargs)
        # guard_factory(params) -> Guard; tests and tools may wrap the policy (default: Guard.from_config).
        self._guard_factory = guard_factory or Guard.from_config
        self._config_problems = []
        for param in P.PARAMETERS:
            try:
                self.declare_parameter(param.name, param.default, _descriptor(param))
            except Exception as error:  # out-of-range or wrongly typed override from a params file
                self._config_problems.append(f"{param.name}: {printable(error)}")
                self.declare_parameter(param.name, param.default, _descriptor(param), ignore_override=True)
        try:
            self._snapshot = P.effective({p.name: self.get_parameter(p.name).value for p in P.PARAMETERS})
        except P.ConfigError as error:
            self._config_problems += error.problems
            self._snapshot = P.defaults()
        self.guard: Optional[Guard] = None
        self._lock = threading.Lock()  # inputs and the running decision's start time
        self._publish_lock = threading.RLock()  # publications, the snapshot swap and the active flag
        self._latch = InputLatch()  # the latest frame, instruction, state, e-stop and enable (control.inputs)
        self._command = None  # (linear_x, angular_z, node-clock seconds)
        self._inference_started: Optional[float] = None  # monotonic seconds
        self._deciding_frame_time: Optional[float] = None  # the frame the decision thread works on
        self._active = False
        self._control_timers = []
        self._keepalive = None
        self._decision_thread: Optional[threading.Thread] = None
        self._worker_stop = threading.Event()
        self._tick = threading.Event()
        self._input_subscriptions = []
        self._publishers_ready = False
        self._last: Optional[Published] = None
        self._last_publish = 0.0  # monotonic
        self._stats = Counter()
        self._reasons = Counter()
        self._latencies = deque(maxlen=50)
        self._publish_times = deque(maxlen=50)
        self._frame_times = deque(maxlen=50)
        self._last_error = ""
        self._last_error_logged = 0.0
        self._last_reason: Optional[str] = None
        self._policy_fault: Optional[str] = None  # set while decisions end in policy_error
        self._configured: Optional[Dict[str, Any]] = None  # the snapshot configured: bounds runtime changes
        self._transition_lock = threading.Lock()  # one lifecycle transition at a time (autostart, services)
        self._recent = deque()  # (monotonic time, certified) of each publication, for the diagnostics window
        self._state_key = None  # what the state topic last said
        self._state_label = "unconfigured"
        self._gate_oracle = BinningOracle(self._snapshot["actions"]) if A.STOP in self._snapshot["actions"] else None
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._harden_change_state_service()
        # Safety inputs and health outputs exist in every lifecycle state: an e-stop or a disable that
        # arrives before activation still holds when the node activates.
        self.create_subscription(Bool, "estop", self._on_estop, qos.COMMANDS)
        self.create_service(SetBool, "~/enable", self._on_enable)
        self._state_pub = self.create_publisher(DiagnosticStatus, "~/state", qos.LATCHED)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", qos.COMMANDS)
        # On a steady clock: /diagnostics keeps coming when a simulation's /clock stops.
        self._diagnostics_timer = self.create_timer(1.0, self._publish_diagnostics,
                                                    clock=Clock(clock_type=ClockType.STEADY_TIME))
        if self._config_problems:
            self.get_logger().error("invalid parameters: " + printable("; ".join(self._config_problems), 2000))

    @property
    def params(self) -> Dict[str, Any]:
        """The current parameter snapshot (never mutated: a change replaces it)."""
        return self._snapshot

    # ------------------------------------------------------------------ lifecycle

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

    def autostart(self) -> None:
        """Configure and activate (the executable does this unless ``autostart`` is false), on the caller's
        thread, while the executor goes on serving parameter and lifecycle services."""
        with self._transition_lock:
            try:
                if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                    self.trigger_activate()
            except Exception as error:  # the node stays up, unconfigured, and says why in /diagnostics
                self._log_error(f"autostart failed: {error}")
        self._publish_state()

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the policy, warm it up and check that it follows image and instruction. SUCCESS -> inactive,
        with publishers and subscriptions made; FAILURE (bad parameters, a model that cannot load or is
        blind) -> unconfigured, the reason in the log and in /diagnostics."""
        if self._config_problems:
            self.get_logger().error("cannot configure, invalid parameters: " + "; ".join(self._config_problems))
            return TransitionCallbackReturn.FAILURE
        snapshot = self._snapshot
        self._configured = snapshot
        try:
            started = time.perf_counter()
            self.guard = self._guard_factory(dict(snapshot))
            self.guard.use(snapshot)
            if self.guard.warmup is None:  # a factory's own guard: warm up here, never in a decision
                self.guard.warm_up()
            budget = self.guard.budget(snapshot)
            self.get_logger().info(
                f"configured: model {self.guard.policy.model_id} ({self.guard.mode} mode) on "
                f"{self.guard.policy.device} in {time.perf_counter() - started:.1f}s, config {self.guard.config_hash}; "
                f"warm-up: first batch {self.guard.warmup['first_batch_s'] * 1e3:.0f} ms, then "
                f"{budget.batch_seconds * 1e3:.1f} ms per batch of {budget.batch_size}")
            if not budget.threshold_certifiable:
                self.get_logger().warning(budget.reason())
        except Exception as error:  # a model that cannot load or is blind: FAILURE, not a crash
            self.guard = None
            self._last_error = printable(f"configure failed: {error}")
            self.get_logger().error(self._last_error)
            return TransitionCallbackReturn.FAILURE
        twist_type = TwistStamped if snapshot["use_stamped"] else Twist
        self._action_pub = self.create_lifecycle_publisher(String, "action", qos.COMMANDS)
        self._cmd_pub = self.create_lifecycle_publisher(twist_type, "cmd_vel", qos.COMMANDS)
        self._certificate_pub = self.create_lifecycle_publisher(DiagnosticStatus, "certificate", qos.COMMANDS)
        # An arm commands its end effector: the executed action vector, labelled; zeros (hold) on every stop.
        self._vector_pub = None
        if snapshot["binning"] == "arm":
            self._vector_pub = self.create_lifecycle_publisher(Float32MultiArray, "action_vector", qos.COMMANDS)
        self._publishers_ready = True
        # Instructions by the latched convention (reliable + transient local: a late guard still gets the last
        # one), and from volatile publishers (a plain `ros2 topic pub` or a default-QoS node) alike.
        self._input_subscriptions = [
            self.create_subscription(Image, "image", self._on_image, qos.SENSOR_DATA),
            self.create_subscription(String, "instruction", self._on_instruction, qos.LATCHED),
            self.create_subscription(String, "instruction", self._on_instruction, qos.COMMANDS),
        ]
        if snapshot["gate_mode"]:
            self._input_subscriptions.append(self.create_subscription(
                twist_type, "cmd_vel_in", self._on_command, qos.COMMANDS))
        if self.guard.state_dim:  # the robot state, for policies that take it: by joint names, or one array
            if snapshot["state_joints"].strip():
                self._input_subscriptions.append(self.create_subscription(
                    JointState, "joint_states", self._on_joint_states, qos.SENSOR_DATA))
            else:
                self._input_subscriptions.append(self.create_subscription(
                    Float32MultiArray, "state", self._on_state_array, qos.SENSOR_DATA))
        # The model and its libraries are millions of long-lived objects: a full garbage collection over
        # them stops every thread (the executor's keep-alive included) for a control period or more.
        # Freezing them after the load leaves the collector only what decisions allocate.
        gc.collect()
        gc.freeze()
        self._state_label = "inactive"
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start deciding and publishing at ``control_rate_hz``: SUCCESS -> active."""
        result = super().on_activate(state)
        with self._publish_lock:
            self._active = True
            self._last, self._last_publish = None, time.monotonic()
        self._start_decisions()
        self._state_label = "active"
        self.get_logger().info(f"active: deciding at {self._snapshot['control_rate_hz']} Hz")
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Publish one last stop (``inactive``) and halt: nothing else goes out until activated again.
        SUCCESS -> inactive."""
        with self._publish_lock:
            self._publish_stop(A.INACTIVE, "node deactivated", final=True)
            self._active = False
        self._stop_decisions()
        self._state_label = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free the model (GPU memory included), publishers and subscriptions. SUCCESS -> unconfigured."""
        self._release()
        gc.unfreeze()  # the released model's reference cycles become collectable again
        self._configured = None
        self._state_label = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """From any state: a last stop if active, then everything freed. SUCCESS -> finalized."""
        with self._publish_lock:
            if self._active:
                self._publish_stop(A.INACTIVE, "node shutting down", final=True)
            self._active = False
        self._stop_decisions(end_thread=True)
        self._release()
        self._state_label = "finalized"
        return TransitionCallbackReturn.SUCCESS

    def _release(self) -> None:
        for subscription in self._input_subscriptions:
            self.destroy_subscription(subscription)
        self._input_subscriptions = []
        with self._publish_lock:
            if self._publishers_ready:
                self._publishers_ready = False
                for publisher in (self._action_pub, self._cmd_pub, self._certificate_pub, self._vector_pub):
                    if publisher is not None:
                        self.destroy_lifecycle_publisher(publisher)
        if self.guard is not None:
            self.guard.release()  # frees model memory, GPU included
            self.guard = None
        with self._lock:
            self._latch.clear()
            self._command = None

    # ------------------------------------------------------------------ timers and the decision thread

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

    # ------------------------------------------------------------------ inputs

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_image(self, msg: Image) -> None:
        received = self._now()
        try:
            frame_time, problem = self.frame_time(msg.header.stamp, received), ""
        except messages.InvalidImage as error:
            frame_time, problem = None, str(error)
        with self._lock:
            self._latch.on_frame(msg, frame_time, problem)
        self._frame_times.append(time.monotonic())

    def _on_instruction(self, msg: String) -> None:
        with self._lock:
            self._latch.on_instruction(msg.data, self._now())

    def _on_command(self, msg) -> None:
        linear_x, angular_z = messages.twist_of_msg(msg)
        with self._lock:
            self._command = (linear_x, angular_z, self._now())

    @staticmethod
    def frame_time(stamp, received: float) -> float:
        """The time a frame was taken, node-clock seconds: its header stamp, or its reception time when the
        stamp is all zero (unstamped). InvalidImage for a stamp before the clock's epoch."""
        sec, nanosec = int(stamp.sec), int(stamp.nanosec)
        if sec == 0 and nanosec == 0:
            return received
        if sec < 0 or not 0 <= nanosec < 1_000_000_000:
            raise messages.InvalidImage(f"header stamp {sec}.{nanosec:09d} is before the clock's epoch")
        return sec + nanosec * 1e-9

    def _on_joint_states(self, msg: JointState) -> None:
        names = [name.strip() for name in self._snapshot["state_joints"].split(",") if name.strip()]
        values, problem = joint_state_values(list(msg.name), list(msg.position), names)
        with self._lock:
            self._latch.on_state(values, self._now(), problem)

    def _on_state_array(self, msg: Float32MultiArray) -> None:
        with self._lock:
            self._latch.on_state(list(msg.data), self._now())

    def _on_estop(self, msg: Bool) -> None:
        with self._lock:
            self._latch.on_estop(bool(msg.data), time.monotonic())
        if msg.data and self._active:
            self._publish_stop(A.ESTOP, "e-stop engaged")  # now, not at the next control step
        self._publish_state()

    @property
    def _enabled(self) -> bool:
        return self._latch.enabled

    def _on_enable(self, request, response):
        """std_srvs/SetBool on ``~/enable``: false -> every step stops (``disabled``) until true again."""
        with self._lock:
            self._latch.enabled = bool(request.data)
        response.success = True
        response.message = "enabled" if self._enabled else "disabled: every control step publishes a stop"
        self.get_logger().info(f"guard {response.message}")
        if not self._enabled and self._active:
            self._publish_stop(A.DISABLED, "disabled through the enable service")
        self._publish_state()
        return response

    def _current_inputs(self) -> Inputs:
        guard = self.guard
        with self._lock:
            return self._latch.inputs(state_dim=guard.state_dim if guard is not None else 0, active=self._active,
                                      steady_now=time.monotonic())

    def _blocked(self, snapshot: Dict[str, Any]):
        """(reason, detail) when the e-stop is engaged or the guard disabled: nothing but stops goes out."""
        stop = safety_stop(self._current_inputs(), snapshot)
        return None if stop is None else (stop.reason, stop.detail)

    # ------------------------------------------------------------------ deciding

    def _control_step(self) -> None:
        """One decision: the rules of :mod:`~rs_vla_guard.control.rules` on the latest inputs, the guard when
        they allow, the deadline, gate mode; then the one publication path."""
        guard = self.guard
        if not self._active or guard is None:
            return
        snapshot = self._snapshot
        with self._lock:
            msg = self._latch.frame_message
        inputs, frame = self._current_inputs(), None
        if inputs.frame is not None and not inputs.frame.problem and inputs.frame.time is not None:
            try:
                frame = messages.frame_from_image_msg(msg)
            except messages.InvalidImage as error:
                inputs = inputs.with_frame_problem(str(error))
                with self._lock:  # holds of this frame see the problem too
                    if self._latch.frame_message is msg:
                        self._latch.frame = inputs.frame
        frame_time = inputs.frame.time if inputs.frame is not None else None
        self._deciding_frame_time = frame_time
        stop = input_stop(inputs, snapshot, self._now())
        if stop is not None:
            return self._publish_stop(stop.reason, stop.detail, snapshot=snapshot, frame_time=frame_time)
        instruction = inputs.instruction.text
        guard.use(snapshot)
        with self._lock:
            self._inference_started = time.monotonic()
        try:
            state = inputs.state.values if inputs.state is not None else None
            decision = guard.decide(frame, instruction, deadline_s=snapshot["deadline_s"], state=state)
        finally:
            with self._lock:
                self._inference_started = None
        if decision.reason == A.POLICY_ERROR:
            self._policy_failed(decision.error)
        else:
            self._policy_fault = None
        late = deadline_stop(decision.latency_ms / 1e3, snapshot["deadline_s"])
        if late is not None:
            decision = decision.as_stop(snapshot, late.reason, late.detail)
        elif decision.error:
            self._log_error(f"{decision.reason}: {decision.error}")
        gated = None
        if snapshot["gate_mode"] and decision.certified:
            gated, decision = decision, self._gate(decision, snapshot)
        self._publish(decision, snapshot, frame_time=frame_time, instruction=instruction, gated=gated)

    def _gate(self, decision: Decision, snapshot: Dict[str, Any]) -> Decision:
        """Gate mode: forward the upstream command only when its direction is the certified action (or one
        of the certified fallback set's members); otherwise a stop with the reason (control.rules.gate)."""
        with self._lock:
            command = self._command
        stop, twist = gate(A.members_of(snapshot, decision.action), command, snapshot, self._now(),
                           self._gate_oracle.label_of)
        if stop is not None:
            return decision.as_stop(snapshot, stop.reason, stop.detail)
        return replace(decision, twist=twist)

    def _hold(self) -> None:
        """Keep-alive (executor thread): a control period passed without a publication. Publish the latest
        command again while it may still go out, else a stop with the reason (control.rules.hold)."""
        if not self._active:
            return
        thread = self._decision_thread
        if thread is not None and not thread.is_alive():  # never expected: the loop catches everything
            self._log_error("the decision thread ended; restarting it")
            self._policy_fault = self._policy_fault or "decision thread restarted"
            self._start_decision_thread()
        with self._publish_lock:
            snapshot = self._snapshot
            period = 1.0 / snapshot["control_rate_hz"]
            if time.monotonic() - self._last_publish < period:
                return  # a decision went out while this timer was due
            inputs = self._current_inputs()
            with self._lock:
                running = self._inference_started
            last = self._last
            verdict = hold(inputs, snapshot, self._now(),
                           running_for=None if running is None else time.monotonic() - running,
                           last_params=last.snapshot if last else None, last_instruction=last.instruction if last else None,
                           last_frame_time=last.frame_time if last else None)
            if verdict.again:
                decision = self._gate(last.gated, snapshot) if last.gated is not None else last.decision
                self._publish(decision, snapshot, frame_time=last.frame_time, instruction=last.instruction, held=True,
                              gated=last.gated)
            else:
                frame_time = inputs.frame.time if inputs.frame is not None else None
                self._publish_stop(verdict.stop.reason, verdict.stop.detail, snapshot=snapshot, frame_time=frame_time)

    # ------------------------------------------------------------------ publishing (the one path)

    def _publish_stop(self, reason: str, detail: str = "", *, snapshot: Optional[Dict[str, Any]] = None,
                      frame_time: Optional[float] = None, final: bool = False) -> None:
        snapshot = snapshot if snapshot is not None else self._snapshot
        guard = self.guard
        decision = stop_decision(snapshot, reason, detail, model_id=guard.policy.model_id if guard else "",
                                 mode=guard.mode if guard else "")
        self._publish(decision, snapshot, frame_time=frame_time, final=final)

    def _publish(self, decision: Decision, snapshot: Dict[str, Any], *, frame_time: Optional[float] = None,
                 instruction: Optional[str] = None, held: bool = False, final: bool = False,
                 gated: Optional[Decision] = None) -> None:
        """Publish action, twist and certificate of ``decision`` (made under ``snapshot``), or nothing when the
        node is not active (``final``: the one stop of a deactivation or shutdown)."""
        with self._publish_lock:
            if not self._publishers_ready or not (self._active or final):
                return
            now = self._now()
            image_age = now - frame_time if frame_time is not None else None
            if not final:
                stop = publication_stop(decision.certified, frame_time, self._current_inputs(), snapshot, now,
                                        reason=decision.reason)
                if stop is not None:
                    decision = decision.as_stop(snapshot, stop.reason, stop.detail)
            stamp = self.get_clock().now().to_msg()
            self._action_pub.publish(String(data=decision.action))
            self._cmd_pub.publish(messages.twist_msg(*decision.twist, stamped=snapshot["use_stamped"], stamp=stamp,
                                                     frame_id=snapshot["frame_id"]))
            self._certificate_pub.publish(messages.certificate_status(
                decision.to_dict(), name=f"{self.get_name()}: certificate", image_age_s=image_age, held=held))
            if self._vector_pub is not None:
                dimensions = self.guard.oracle.dimensions if self.guard is not None else snapshot["action_dimensions"]
                self._vector_pub.publish(messages.vector_msg(decision.vector or [0.0] * len(dimensions), dimensions))
            self._last = Published(decision, snapshot, frame_time, instruction, gated)
            self._last_publish = time.monotonic()
            if self._keepalive is not None:
                self._keepalive.reset()
        self._recent.append((time.monotonic(), decision.certified))
        self._stats["published"] += 1
        self._stats["certified"] += decision.certified
        self._reasons[decision.reason] += 1
        self._last_reason = decision.reason
        self._publish_times.append(time.monotonic())
        if decision.n_samples and not held:
            self._latencies.append(decision.latency_ms)
        self._publish_state()

    # ------------------------------------------------------------------ errors

    def _policy_failed(self, text: str) -> None:
        self._policy_fault = printable(text)
        self._log_error(f"policy error: {text}")

    def _log_error(self, message: str) -> None:
        self._last_error = printable(message)
        if time.monotonic() - self._last_error_logged > 5.0:  # once per burst, not once per frame
            self._last_error_logged = time.monotonic()
            self.get_logger().error(self._last_error)

    # ------------------------------------------------------------------ parameters

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
        except P.ConfigError as error:
            return SetParametersResult(successful=False, reason=printable("; ".join(error.problems), 2000))
        with self._publish_lock:  # no publication straddles the swap
            rate_changed = merged["control_rate_hz"] != self._snapshot["control_rate_hz"]
            self._snapshot = merged
            self._config_problems = []
        if rate_changed and self._active:
            self._start_timers()
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ diagnostics

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
        # The real-time budget (DESIGN 2.11): batch time measured at configure, what fits in deadline_s.
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


def run(node: GuardNode) -> None:
    """Spin ``node`` (decisions run on its own thread), self-activating unless ``autostart`` is false; on
    shutdown an active node publishes a last stop while the ROS context is still valid."""
    autostart = None
    if node.params["autostart"]:
        # On its own thread: parameter and lifecycle services answer while the model loads.
        autostart = threading.Thread(target=node.autostart, name="rs_vla_guard_autostart", daemon=True)
        autostart.start()

    def final_stop() -> None:
        try:
            with node._publish_lock:
                if node._active:
                    node._publish_stop(A.INACTIVE, "node shutting down", final=True)
        except Exception as error:  # the context may already be gone; nothing else to do
            node.get_logger().warning(f"could not publish the final stop: {error}")

    spin_until_shutdown(node, on_exit=final_stop)
    if autostart is not None:
        # A signal during the model load: let the load finish (bounded) before the interpreter exits, since
        # finalising while native code runs on that thread aborts the process ("terminate called ...").
        autostart.join(AUTOSTART_JOIN_TIMEOUT_S)


def main(args=None, node_factory=GuardNode) -> None:
    """Entry point of ``guard_node``; ``node_factory`` builds the node once ROS is initialised."""
    # Own signal handling: SIGINT/SIGTERM raise KeyboardInterrupt in the spinning thread, so the final
    # stop is published while the ROS context is still valid.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    run(node_factory())


if __name__ == "__main__":
    main()
