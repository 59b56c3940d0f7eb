"""What a chunked policy's certified tube lets the arm execute, and the hold every stop publishes
(docs/theory.md, section 11).

Executed chunk = the median chunk clamped into its certified tube; then three gates, in this order, each
a stop with its reason:

1. ``chunk_too_wide``: a joint's tube is wider than its ``chunk_tube_limits`` entry at some executed step
   (an infinite side, when too few samples bound it, is too wide);
2. ``joint_limit``: a waypoint outside the joint's ``joint_limits``: the clamp the limits would have to cut
   is refused instead of cut (a cut waypoint would leave the tube, and the promise with it);
3. ``joint_limit``: a joint faster than ``max_joint_speed`` between waypoints, the first against the
   measured position.

A stop is a hold: one point at the latest measured positions with zero velocity (a controlled stop with
power kept, IEC 60204-1 category 2 in spirit).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import actions as A
from ..certification.tubes import ChunkTube
from ..settings.chunks import parse_joint_limits, parse_tube_limits, tube_limit


@dataclass(frozen=True)
class ChunkRules:
    """The chunk parameters of one configuration, parsed once."""
    steps: int
    dt_s: float
    tube_limits: Dict[str, float]
    joint_limits: Dict[str, Tuple[float, float]]
    max_speed: float

    @classmethod
    def from_params(cls, params) -> "ChunkRules":
        return cls(int(params["chunk_execute_steps"]), float(params["chunk_dt_s"]),
                   parse_tube_limits(params["chunk_tube_limits"]), parse_joint_limits(params["joint_limits"]),
                   float(params["max_joint_speed"]))

    def execute(self, tube: ChunkTube, state: Optional[Sequence[float]]) -> Tuple[Optional[str], np.ndarray, str]:
        """(stop reason or None, the K x D waypoints to execute, what stopped it): the median clamped into
        the tube, then the three gates of the module's docstring."""
        waypoints = tube.clamp(tube.median)
        for joint, column in zip(tube.joint_names, tube.widths.T):
            limit = tube_limit(self.tube_limits, joint)
            widest = float(np.max(column)) if np.all(np.isfinite(column)) else math.inf
            if not widest <= limit:
                return A.CHUNK_TOO_WIDE, waypoints, f"{joint}: tube {widest:.3g} wide, limit {limit:g}"
        if not np.all(np.isfinite(waypoints)):
            return A.CHUNK_TOO_WIDE, waypoints, "a waypoint is not finite"
        for index, joint in enumerate(tube.joint_names):
            low, high = self.joint_limits.get(joint, (-math.inf, math.inf))
            column = waypoints[:, index]
            if column.min() < low or column.max() > high:
                value = column.min() if column.min() < low else column.max()
                return A.JOINT_LIMIT, waypoints, f"{joint}: waypoint {value:.3f} outside [{low:g}, {high:g}]"
        previous = np.asarray(state, dtype=np.float64)[: waypoints.shape[1]] if state is not None else waypoints[0]
        steps = np.diff(np.vstack([previous[None], waypoints]), axis=0)
        speeds = np.abs(steps).max(axis=0) / self.dt_s
        fastest = int(np.argmax(speeds))
        if speeds[fastest] > self.max_speed * (1 + 1e-9):
            return (A.JOINT_LIMIT, waypoints, f"{tube.joint_names[fastest]}: {speeds[fastest]:.3f}/s faster than "
                    f"max_joint_speed {self.max_speed:g}")
        return None, waypoints, ""


def chunk_record(waypoints, tube: Optional[ChunkTube], dt_s: float, joint_names: Sequence[str],
                 hold: Optional[np.ndarray] = None) -> Dict:
    """The ``chunk`` entry of a decision's record: K x D executed waypoints, K x D [low, high] tube, and the
    hold at the measured positions (what a later stop of the same decision publishes)."""
    # JSON has no infinity: an unbounded side of the tube is null
    rows = lambda values: [[float(v) if math.isfinite(v) else None for v in row] for row in np.asarray(values)]  # noqa: E731
    record = {"waypoints": rows(waypoints), "dt_s": float(dt_s), "joint_names": list(joint_names)}
    if hold is not None:
        record["hold"] = rows(hold)
    if tube is not None:
        record["tube"] = [[list(pair) for pair in zip(low, high)] for low, high in zip(rows(tube.low), rows(tube.high))]
    return record


def hold_waypoints(state: Sequence[float]) -> np.ndarray:
    """A stop's trajectory: one point at the measured positions."""
    return np.asarray(state, dtype=np.float64)[None, :]


def holdable(values: Optional[Sequence[float]], problem: str = "") -> Optional[List[float]]:
    """Measured positions a stop may hold at: present, without a problem, all finite (a NaN is never a place to
    hold at); None otherwise."""
    if problem or not values or not all(math.isfinite(v) for v in values):
        return None
    return [float(v) for v in values]


def sent_trajectory(decision, joint_names: Sequence[str], dt_s: float, hold_at: Optional[Sequence[float]]
                    ) -> Optional[Tuple[List[str], List, float]]:
    """What goes to the arm's controller for ``decision`` as (joint names, waypoints, dt_s): the executed chunk
    when certified, else a hold at ``hold_at`` (the latest :func:`holdable` positions, in ``joint_names``
    order); None before there is any position to hold at (nothing is sent: never an empty trajectory). The
    node publishes it (:mod:`rs_vla_guard.ros.node_trajectory`); a replay records it."""
    chunk = decision.chunk or {}
    if decision.certified and chunk.get("waypoints"):
        return list(chunk["joint_names"]), chunk["waypoints"], chunk["dt_s"]
    if hold_at is not None and len(hold_at) == len(joint_names):
        return list(joint_names), [list(hold_at)], dt_s
    return None
