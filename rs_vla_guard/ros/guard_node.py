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

The rules of each control period (which input or timing stop, holds, gate mode) are the control core's
(:mod:`rs_vla_guard.control.rules`); this node wires topics, parameters, timers and the lifecycle to them.
Its parts: :mod:`.node_inputs` (callbacks into the input latch), :mod:`.node_diagnostics` (health) and
:mod:`.node_lifecycle` (parameter changes, a hardened lifecycle service). How the promise is kept:

- one immutable parameter snapshot per published command, swapped atomically, whose hash the certificate
  carries;
- decisions on one dedicated thread woken by the control timer; a keep-alive timer fires when 1.2
  periods pass without a publication and publishes a hold or the stop that applies;
- short executor callbacks, so a single-threaded executor serves them all while inference runs (rclpy's
  MultiThreadedExecutor busy-spins while a long callback runs, ros2/rclpy#1452);
- anything a policy raises (``SystemExit`` and ``KeyboardInterrupt`` included) becomes ``policy_error``
  stops, and decisions go on;
- a lifecycle request without a transition from the current state is answered ``success: false``
  (rclpy 7.1.6 would raise out of the service, ros2/rclpy#1209).
"""
from __future__ import annotations

import gc
import signal
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Optional

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import Twist, TwistStamped
from rclpy.clock import Clock, ClockType
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, Float32MultiArray, String
from std_srvs.srv import SetBool

from .. import actions as A
from .. import settings as P
from ..control.inputs import InputLatch
from ..control.rules import deadline_stop, gate, hold, input_stop, publication_stop
from ..guard import Decision, Guard, stop_decision
from ..oracles import BinningOracle
from ..text import printable
from . import messages, qos
from .node_process import refused_parameter_files, run  # noqa: F401  (run: also this module's)
from .node_decisions import DecisionThreadMixin
from .node_diagnostics import DiagnosticsMixin
from .node_inputs import InputsMixin
from .node_lifecycle import LifecycleMixin, descriptor
from .node_trajectory import TrajectoryMixin



@dataclass(frozen=True)
class Published:
    """The latest command out, and what a hold needs to decide whether it may go out again."""

    decision: Decision
    snapshot: Dict[str, Any]
    frame_time: Optional[float]  # the frame's time (stamp, or reception when unstamped), node clock seconds
    instruction: Optional[str]
    gated: Optional[Decision] = None  # gate mode: the certified decision before the upstream command was applied


class GuardNode(DecisionThreadMixin, InputsMixin, DiagnosticsMixin, LifecycleMixin, TrajectoryMixin, LifecycleNode):
    """Certifies each control step's VLA action and publishes it, or an explicit stop with a reason."""

    def __init__(self, guard_factory=None, **kwargs):
        super().__init__(P.NODE_NAME, **kwargs)
        # guard_factory(params) -> Guard; tests and tools may wrap the policy (default: Guard.from_config).
        self._guard_factory = guard_factory or Guard.from_config
        self._config_problems = []
        for param in P.PARAMETERS:
            try:
                self.declare_parameter(param.name, param.default, descriptor(param))
            except Exception as error:  # out-of-range or wrongly typed override from a params file
                self._config_problems.append(f"{param.name}: {printable(error)}")
                self.declare_parameter(param.name, param.default, descriptor(param), ignore_override=True)
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

    def refuse_configuration(self, problems: List[str]) -> None:
        """Problems found before the node existed (a refused parameter file): logged, in /diagnostics, and
        configure fails until the node is restarted with a good file."""
        self._config_problems += problems
        self.get_logger().error("invalid parameters: " + printable("; ".join(problems), 2000))

    @property
    def params(self) -> Dict[str, Any]:
        """The current parameter snapshot (never mutated: a change replaces it)."""
        return self._snapshot

    # ------------------------------------------------------------------ lifecycle

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
        self._make_trajectory_publisher(snapshot)  # a chunked policy: JointTrajectory for ros2_control
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
                for publisher in (self._action_pub, self._cmd_pub, self._certificate_pub, self._vector_pub,
                                  self._trajectory_pub):
                    if publisher is not None:
                        self.destroy_lifecycle_publisher(publisher)
        if self.guard is not None:
            self.guard.release()  # frees model memory, GPU included
            self.guard = None
        with self._lock:
            self._latch.clear()
            self._command = None

    # ------------------------------------------------------------------ timers and the decision thread

    # ------------------------------------------------------------------ inputs

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
                frame = messages.frame_from_image_msg(msg, snapshot["max_image_pixels"])
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
            self._publish_trajectory(decision, snapshot, held)
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

    # ------------------------------------------------------------------ diagnostics








def main(args=None, node_factory=GuardNode) -> None:
    """Entry point of ``guard_node``; ``node_factory`` builds the node once ROS is initialised."""
    args, refused = refused_parameter_files(list(sys.argv if args is None else args))
    # Own signal handling: SIGINT/SIGTERM raise KeyboardInterrupt in the spinning thread, so the final
    # stop is published while the ROS context is still valid.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    node = node_factory()
    if refused:
        node.refuse_configuration(refused)
    run(node)


if __name__ == "__main__":
    main()
