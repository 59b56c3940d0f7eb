"""The guard node's arm output: trajectory_msgs/JointTrajectory on ``joint_trajectory`` for a chunked policy
(the topic interface of ros2_controllers' joint_trajectory_controller). A part of
:class:`~.guard_node.GuardNode`.

A certified decision publishes its executed waypoints (joint names from ``state_joints``, waypoint h due
(h + 1) * ``chunk_dt_s`` from now: a zero header stamp, so the controller replaces the previous chunk at
once). Every stop publishes a hold: one point at the latest measured positions with zero velocity, never
an empty trajectory (which cancels, but with velocity or effort interfaces may not stop the arm) and never
silence. A repeated command of the keep-alive sends nothing new: the controller is still on that chunk.
Before the first valid joint_states there is no position to hold, and nothing goes to the controller.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from builtin_interfaces.msg import Duration
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from ..control.chunks import holdable, sent_trajectory
from ..guard import Decision
from ..settings.chunks import state_joint_names
from . import qos


def _duration(seconds: float) -> Duration:
    nanoseconds = int(round(seconds * 1e9))
    return Duration(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def trajectory_msg(joint_names: Sequence[str], waypoints: Sequence[Sequence[float]], dt_s: float) -> JointTrajectory:
    """A JointTrajectory starting now: waypoint h at (h + 1) * dt_s, the last with zero velocity (a chunk
    that no new one replaces ends at rest on its last certified waypoint; a hold is one such point)."""
    points = [JointTrajectoryPoint(positions=[float(v) for v in positions], time_from_start=_duration((i + 1) * dt_s))
              for i, positions in enumerate(waypoints)]
    if points:
        points[-1].velocities = [0.0] * len(points[-1].positions)
    return JointTrajectory(joint_names=list(joint_names), points=points)


class TrajectoryMixin:
    """The joint_trajectory publisher and what each publication sends on it."""

    _trajectory_pub = None
    _hold_positions: Optional[List[float]] = None  # the latest valid measured positions, in state_joints order

    def _make_trajectory_publisher(self, snapshot: Dict[str, Any]) -> None:
        self._trajectory_pub = None
        if snapshot["chunk_execute_steps"]:
            self._trajectory_pub = self.create_lifecycle_publisher(JointTrajectory, "joint_trajectory", qos.COMMANDS)

    def _remember_positions(self, values: Optional[List[float]], problem: Optional[str]) -> None:
        """Keep the latest measured positions a stop may hold at (:func:`~rs_vla_guard.control.chunks.holdable`)."""
        positions = holdable(values, problem)
        if positions is not None:
            self._hold_positions = positions

    def _publish_trajectory(self, decision: Decision, snapshot: Dict[str, Any], held: bool) -> None:
        if self._trajectory_pub is None or held:
            return
        sent = sent_trajectory(decision, state_joint_names(snapshot), snapshot["chunk_dt_s"], self._hold_positions)
        if sent is not None:
            self._trajectory_pub.publish(trajectory_msg(*sent))
