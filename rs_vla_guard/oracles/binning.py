"""The binning oracle: continuous commands (rows of [linear_x, angular_z, ...]) -> discrete actions."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .. import actions as A
from .keyword import UNMAPPED

@dataclass
class BinningOracle:
    """Maps continuous commands (rows of [linear_x, angular_z, ...]) to discrete actions.

    - both |linear_x| < ``linear_deadband`` and |angular_z| < ``angular_deadband`` -> ``stop``;
    - a turn dominates (|angular_z| / angular_scale >= |linear_x| / linear_scale and above its
      deadband) -> ``turn_left`` for positive yaw (REP 103: counter-clockwise), else ``turn_right``;
    - otherwise positive linear_x -> ``move_forward``, negative -> ``move_backward`` when that action
      exists, else ``stop``.
    With ``gripper_index`` set, a gripper value above ``gripper_threshold`` -> ``grasp`` (when listed).
    Works on numpy arrays and torch tensors alike (no per-row Python loop).
    """

    actions: Sequence[str]
    linear_index: int = 0
    angular_index: int = 1
    linear_deadband: float = 0.05
    angular_deadband: float = 0.1
    linear_scale: float = 0.2
    angular_scale: float = 0.6
    gripper_index: Optional[int] = None
    gripper_threshold: float = 0.5

    def __post_init__(self):
        self.actions = list(self.actions)
        if A.STOP not in self.actions:
            raise ValueError("the binning oracle needs a 'stop' action for its deadband")
        for value, name in ((self.linear_deadband, "linear_deadband"), (self.angular_deadband, "angular_deadband"),
                            (self.linear_scale, "linear_scale"), (self.angular_scale, "angular_scale")):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")

    def _index(self, action: str) -> int:
        return self.actions.index(action) if action in self.actions else UNMAPPED

    def __call__(self, vectors):
        xp = _namespace(vectors)
        linear = vectors[..., self.linear_index]
        angular = vectors[..., self.angular_index]
        stop = self._index(A.STOP)
        labels = np.full(linear.shape, stop, np.int64) if xp is np else _torch_full(linear, stop)
        forward = linear >= self.linear_deadband
        backward = linear <= -self.linear_deadband
        labels[forward] = self._index(A.MOVE_FORWARD)
        labels[backward] = self._index(A.MOVE_BACKWARD) if A.MOVE_BACKWARD in self.actions else stop
        turning = (xp.abs(angular) >= self.angular_deadband) & (
            xp.abs(angular) / self.angular_scale >= xp.abs(linear) / self.linear_scale
        )
        labels[turning & (angular > 0)] = self._index(A.TURN_LEFT)
        labels[turning & (angular < 0)] = self._index(A.TURN_RIGHT)
        if self.gripper_index is not None and A.GRASP in self.actions:
            labels[vectors[..., self.gripper_index] > self.gripper_threshold] = self._index(A.GRASP)
        return labels

    def label_of(self, linear_x: float, angular_z: float) -> Optional[str]:
        """The action one twist amounts to (gate mode bins an upstream command with this), or None."""
        index = int(self(np.array([[linear_x, angular_z]], dtype=np.float64))[0])
        return self.actions[index] if index >= 0 else None


def _namespace(array):
    if isinstance(array, np.ndarray):
        return np
    import torch

    return torch


def _torch_full(like, value):
    import torch

    return torch.full(like.shape, value, dtype=torch.int64, device=like.device)
