"""The binning oracle: continuous actions -> discrete actions.

A policy outputs vectors (or chunks of them, B x T x D); the oracle averages the first ``chunk_steps``
steps of each chunk and bins the result by rules over named dimensions:

- ``base`` (mobile base, dimensions ``linear_x``, ``angular_z``): both inside their deadbands -> ``stop``;
  a turn dominates (|angular_z| / angular_scale >= |linear_x| / linear_scale, and above its deadband) ->
  ``turn_left`` for positive yaw (REP 103: counter-clockwise), else ``turn_right``; otherwise positive
  linear_x -> ``move_forward``, negative -> ``move_backward`` when that action exists, else ``stop``. A
  ``gripper`` dimension above ``gripper_threshold`` -> ``grasp`` when listed.
- ``arm`` (end effector, dimensions ``ee_x``, ``ee_y``, ``ee_z``, ``gripper``): a gripper command beyond
  +-``gripper_threshold`` -> ``close_gripper`` / ``open_gripper``; otherwise the dominant axis and its sign
  (``move_x_pos``, ...), or ``hold`` when every axis is inside ``position_deadband``.
- ``chunk`` (a chunk of joint positions, any joint names): ``hold`` when no joint moves more than
  ``position_deadband`` between the chunk's first waypoint and its ``chunk_steps``-th, else ``move``. What
  executes is the certified tube's chunk (:mod:`rs_vla_guard.control.chunks`); the class says whether it moves.

A row with a NaN or an infinity, or a class the action list lacks, maps to -1 (unmapped): it counts
against the candidate, never for it. Works on numpy arrays and torch tensors (no per-row Python loop).
:meth:`BinningOracle.clamp` moves a vector into a class's bin (what ``continuous_command: clean``
executes), and :meth:`BinningOracle.scores` gives differentiable class scores (what attacks ascend).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from .. import actions as A
from .keyword import UNMAPPED

INSIDE = 1.0 - 1e-6  # strictly inside a bin's open bounds


@dataclass
class BinningOracle:
    actions: Sequence[str]
    kind: str = "base"
    dimensions: Optional[Sequence[str]] = None
    chunk_steps: int = 1
    linear_deadband: float = 0.05
    angular_deadband: float = 0.1
    linear_scale: float = 0.2
    angular_scale: float = 0.6
    position_deadband: float = 0.01
    gripper_threshold: float = 0.5
    gripper_index: Optional[int] = None  # base: a gripper dimension given by position instead of by name

    def __post_init__(self):
        self.actions = list(self.actions)
        if self.kind not in ("base", "arm", "chunk"):
            raise ValueError(f"binning must be base, arm or chunk, got {self.kind!r}")
        defaults = A.BASE_DIMENSIONS if self.kind == "base" else A.ARM_DIMENSIONS
        self.dimensions = list(self.dimensions or defaults)
        needed = {"base": A.BASE_DIMENSIONS, "arm": A.ARM_DIMENSIONS[:3], "chunk": ()}[self.kind]
        missing = [name for name in needed if name not in self.dimensions]
        if missing:
            raise ValueError(f"{self.kind} binning needs the dimensions {', '.join(needed)}; missing {missing}")
        safe = A.STOP if self.kind == "base" else A.HOLD
        if safe not in self.actions:
            raise ValueError(f"the {self.kind} binning oracle needs a {safe!r} action for its deadband")
        for value, name in ((self.linear_deadband, "linear_deadband"), (self.angular_deadband, "angular_deadband"),
                            (self.linear_scale, "linear_scale"), (self.angular_scale, "angular_scale"),
                            (self.position_deadband, "position_deadband"), (self.gripper_threshold, "gripper_threshold")):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        self.index: Dict[str, int] = {name: i for i, name in enumerate(self.dimensions)}
        if self.gripper_index is not None:
            self.index["gripper"] = self.gripper_index
        self.chunk_steps = max(1, int(self.chunk_steps))

    @classmethod
    def from_params(cls, params, dimensions: Optional[Sequence[str]] = None) -> "BinningOracle":
        """The oracle the parameters configure; ``dimensions``: the policy's own names for its outputs."""
        return cls(params["actions"], kind=params["binning"], dimensions=dimensions or params["action_dimensions"],
                   chunk_steps=params["chunk_steps"], linear_deadband=params["linear_deadband"],
                   angular_deadband=params["angular_deadband"], linear_scale=params["linear_scale"],
                   angular_scale=params["angular_scale"], position_deadband=params["position_deadband"],
                   gripper_threshold=params["gripper_threshold"])

    def _index(self, action: str) -> int:
        return self.actions.index(action) if action in self.actions else UNMAPPED

    def reduce(self, actions):
        """B x T x D chunks -> B x D (the mean of the first ``chunk_steps``; ``chunk`` binning: the move from
        the first waypoint to the ``chunk_steps``-th); B x D vectors unchanged."""
        if actions.ndim == 3 and self.kind == "chunk":
            return actions[:, self.chunk_steps - 1] - actions[:, 0]
        if actions.ndim == 3:
            return actions[:, : self.chunk_steps].mean(axis=1) if isinstance(actions, np.ndarray) else \
                actions[:, : self.chunk_steps].mean(dim=1)
        return actions

    def __call__(self, actions):
        vectors = self.reduce(actions)
        xp = _namespace(vectors)
        labels = {"base": self._base, "arm": self._arm, "chunk": self._chunk}[self.kind](vectors, xp)
        # a chunk is judged on every executed waypoint, not only the two its move is measured between
        checked = actions[:, : self.chunk_steps].reshape(actions.shape[0], -1) \
            if self.kind == "chunk" and actions.ndim == 3 else vectors
        finite = xp.isfinite(checked).all(axis=-1) if xp is np else xp.isfinite(checked).all(dim=-1)
        labels[~finite] = UNMAPPED
        return labels

    def _column(self, vectors, name):
        return vectors[..., self.index[name]]

    def _base(self, vectors, xp):
        linear, angular = self._column(vectors, "linear_x"), self._column(vectors, "angular_z")
        stop = self._index(A.STOP)
        labels = np.full(linear.shape, stop, np.int64) if xp is np else _torch_full(linear, stop)
        labels[linear >= self.linear_deadband] = self._index(A.MOVE_FORWARD)
        backward = self._index(A.MOVE_BACKWARD) if A.MOVE_BACKWARD in self.actions else stop
        labels[linear <= -self.linear_deadband] = backward
        turning = (xp.abs(angular) >= self.angular_deadband) & (
            xp.abs(angular) / self.angular_scale >= xp.abs(linear) / self.linear_scale)
        labels[turning & (angular > 0)] = self._index(A.TURN_LEFT)
        labels[turning & (angular < 0)] = self._index(A.TURN_RIGHT)
        if "gripper" in self.index and A.GRASP in self.actions:
            labels[self._column(vectors, "gripper") > self.gripper_threshold] = self._index(A.GRASP)
        return labels

    def _arm(self, vectors, xp):
        axes = [self._column(vectors, name) for name in A.ARM_DIMENSIONS[:3]]
        magnitudes = xp.stack([xp.abs(a) for a in axes], -1)
        dominant = magnitudes.argmax(-1)
        hold = self._index(A.HOLD)
        labels = np.full(dominant.shape, hold, np.int64) if xp is np else _torch_full(dominant, hold)
        largest = magnitudes.max(-1) if xp is np else magnitudes.max(-1).values
        moving = largest >= self.position_deadband
        for axis, (positive, negative) in enumerate(((A.MOVE_X_POS, A.MOVE_X_NEG), (A.MOVE_Y_POS, A.MOVE_Y_NEG),
                                                     (A.MOVE_Z_POS, A.MOVE_Z_NEG))):
            labels[moving & (dominant == axis) & (axes[axis] > 0)] = self._index(positive)
            labels[moving & (dominant == axis) & (axes[axis] < 0)] = self._index(negative)
        if "gripper" in self.index:
            gripper = self._column(vectors, "gripper")
            labels[gripper >= self.gripper_threshold] = self._index(A.CLOSE_GRIPPER)
            labels[gripper <= -self.gripper_threshold] = self._index(A.OPEN_GRIPPER)
        return labels

    def _chunk(self, vectors, xp):
        largest = xp.abs(vectors).max(-1) if xp is np else vectors.abs().max(-1).values
        hold = self._index(A.HOLD)
        labels = np.full(largest.shape, hold, np.int64) if xp is np else _torch_full(largest, hold)
        labels[largest >= self.position_deadband] = self._index(A.MOVE)
        return labels

    def label_of(self, linear_x: float, angular_z: float) -> Optional[str]:
        """The action one twist amounts to (gate mode bins an upstream command with this), or None."""
        vector = np.zeros((1, len(self.dimensions)))
        vector[0, self.index["linear_x"]], vector[0, self.index["angular_z"]] = linear_x, angular_z
        index = int(self(vector)[0])
        return self.actions[index] if index >= 0 else None

    # ------------------------------------------------------------------ bins

    def clamp(self, vector: Sequence[float], action: str) -> List[float]:
        """The point of ``action``'s bin nearest to ``vector`` along each dimension (a vector already in a
        motion's bin is left as it is): what a certified class may execute of the policy's own command.
        ``stop`` and ``hold`` always execute no motion at all."""
        v = np.asarray(vector, dtype=np.float64).copy()
        if self.kind == "base":
            self._clamp_base(v, action)
        else:
            self._clamp_arm(v, action)
        return v.tolist()

    def _clamp_base(self, v, action):
        i, j = self.index["linear_x"], self.index["angular_z"]
        if "gripper" in self.index and action != A.GRASP:
            v[self.index["gripper"]] = min(v[self.index["gripper"]], self.gripper_threshold * INSIDE)
        if action in (A.MOVE_FORWARD, A.MOVE_BACKWARD):
            sign = 1.0 if action == A.MOVE_FORWARD else -1.0
            v[i] = sign * max(sign * v[i], self.linear_deadband)
            # not turning: yaw inside its deadband, or weaker (scaled) than the forward speed
            allowed = max(self.angular_deadband, abs(v[i]) / self.linear_scale * self.angular_scale) * INSIDE
            v[j] = float(np.clip(v[j], -allowed, allowed))
        elif action in (A.TURN_LEFT, A.TURN_RIGHT):
            sign = 1.0 if action == A.TURN_LEFT else -1.0
            v[j] = sign * max(sign * v[j], self.angular_deadband)
            reach = abs(v[j]) / self.angular_scale * self.linear_scale * INSIDE
            v[i] = float(np.clip(v[i], -reach, reach))
        elif action == A.GRASP:
            v[self.index["gripper"]] = max(v[self.index["gripper"]], self.gripper_threshold)
        else:  # stop, and anything else: no motion
            v[i] = v[j] = 0.0

    def _clamp_arm(self, v, action):
        axes = [self.index[name] for name in A.ARM_DIMENSIONS[:3]]
        gripper = self.index.get("gripper")
        if gripper is not None and action not in (A.OPEN_GRIPPER, A.CLOSE_GRIPPER):
            v[gripper] = float(np.clip(v[gripper], -self.gripper_threshold * INSIDE, self.gripper_threshold * INSIDE))
        moves = {A.MOVE_X_POS: (0, 1.0), A.MOVE_X_NEG: (0, -1.0), A.MOVE_Y_POS: (1, 1.0), A.MOVE_Y_NEG: (1, -1.0),
                 A.MOVE_Z_POS: (2, 1.0), A.MOVE_Z_NEG: (2, -1.0)}
        if action in moves:
            axis, sign = moves[action]
            v[axes[axis]] = sign * max(sign * v[axes[axis]], self.position_deadband)
            bound = abs(v[axes[axis]]) * INSIDE
            for other in range(3):
                if other != axis:
                    v[axes[other]] = float(np.clip(v[axes[other]], -bound, bound))
        elif action in (A.OPEN_GRIPPER, A.CLOSE_GRIPPER):
            sign = 1.0 if action == A.CLOSE_GRIPPER else -1.0
            v[gripper] = sign * max(sign * v[gripper], self.gripper_threshold)
            for axis in axes:  # the gripper moves; the arm holds
                v[axis] = 0.0
        else:  # hold
            for axis in axes:
                v[axis] = 0.0

    # ------------------------------------------------------------------ scores for attacks

    def scores(self, actions):
        """B x C differentiable class scores (torch) of B actions (or chunks): larger inside a class's bin,
        so ascending one class's score over the others pushes the binned class towards it."""
        import torch

        vectors = self.reduce(actions)
        columns: Dict[str, torch.Tensor] = {}
        if self.kind == "base":
            u = self._column(vectors, "linear_x") / self.linear_scale  # in units of the scales
            w = self._column(vectors, "angular_z") / self.angular_scale
            ud, wd = self.linear_deadband / self.linear_scale, self.angular_deadband / self.angular_scale
            columns = {A.MOVE_FORWARD: torch.minimum(u - ud, u - w.abs()),
                       A.MOVE_BACKWARD: torch.minimum(-u - ud, -u - w.abs()),
                       A.TURN_LEFT: torch.minimum(w - wd, w - u.abs()),
                       A.TURN_RIGHT: torch.minimum(-w - wd, -w - u.abs())}
            motions = [score for action, score in columns.items() if action in self.actions]
            columns[A.STOP] = -torch.stack(motions, -1).max(-1).values  # none of the listed motions
        elif self.kind == "chunk":
            largest = (vectors / self.position_deadband).abs().max(-1).values
            columns = {A.MOVE: largest - 1.0, A.HOLD: 1.0 - largest}
        else:
            p = torch.stack([self._column(vectors, n) for n in A.ARM_DIMENSIONS[:3]], -1) / self.position_deadband
            names = ((A.MOVE_X_POS, A.MOVE_X_NEG), (A.MOVE_Y_POS, A.MOVE_Y_NEG), (A.MOVE_Z_POS, A.MOVE_Z_NEG))
            for axis, (positive, negative) in enumerate(names):
                others = torch.cat([p[..., :axis], p[..., axis + 1:]], -1).abs().max(-1).values
                columns[positive], columns[negative] = p[..., axis] - others, -p[..., axis] - others
            columns[A.HOLD] = 1.0 - p.abs().max(-1).values
            if "gripper" in self.index:
                g = self._column(vectors, "gripper") / self.gripper_threshold
                columns[A.CLOSE_GRIPPER], columns[A.OPEN_GRIPPER] = g - 1.0, -g - 1.0
        floor = torch.full_like(next(iter(columns.values())), -1e6)  # actions the binning never gives
        return torch.stack([columns.get(action, floor) for action in self.actions], -1)


def _namespace(array):
    if isinstance(array, np.ndarray):
        return np
    import torch

    return torch


def _torch_full(like, value):
    import torch

    return torch.full(like.shape, value, dtype=torch.int64, device=like.device)
