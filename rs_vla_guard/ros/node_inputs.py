"""The guard node's inputs: each message kept in the control core's latch (:class:`~rs_vla_guard.control.inputs.
InputLatch`) with the time it is about, the e-stop and the enable service. A part of
:class:`~.guard_node.GuardNode`."""
from __future__ import annotations

import time
from typing import Any, Dict

from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, Float32MultiArray, String

from .. import actions as A
from ..control.inputs import Inputs, joint_state_values
from ..control.rules import safety_stop
from ..settings.chunks import state_joint_names
from . import messages


class InputsMixin:
    """Subscriptions' callbacks and the inputs of one control period."""

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
        names = state_joint_names(self._snapshot)
        values, problem = joint_state_values(list(msg.name), list(msg.position), names)
        with self._lock:
            self._latch.on_state(values, self._now(), problem)
            self._remember_positions(values, problem)

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
