"""Oracles: a policy's raw output -> index of a discrete robot action (-1 = could not be mapped).

The certificate is on the oracle's class, so an oracle must be deterministic and conservative: text
that names no action, or names two different ones, maps to -1 (never to a guess).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

UNMAPPED = -1

# Canonical phrase first (used to score candidates in ``score`` mode), then synonyms.
DEFAULT_PHRASES: Dict[str, List[str]] = {
    "move_forward": ["move forward", "go forward", "forward", "go straight", "straight ahead", "drive forward",
                     "ahead", "advance"],
    "turn_left": ["turn left", "left", "rotate left", "steer left"],
    "turn_right": ["turn right", "right", "rotate right", "steer right"],
    "stop": ["stop", "halt", "stay", "wait", "arrived", "hold position"],
    "move_backward": ["move backward", "backward", "back up", "reverse"],
    "grasp": ["grasp", "grab", "pick up", "close gripper"],
    "release": ["release", "drop", "open gripper", "let go"],
}


def normalise_text(text: str) -> str:
    """Lower case; underscores, hyphens and punctuation become spaces; runs of spaces collapse."""
    text = text.lower().replace("_", " ").replace("-", " ")
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


class KeywordOracle:
    """Maps generated text to an action by whole-word phrase matching (case and punctuation ignored).

    Exactly one action named -> its index; none, or several different ones -> -1.
    """

    def __init__(self, actions: Sequence[str], phrases: Optional[Dict[str, Iterable[str]]] = None):
        if not actions:
            raise ValueError("an oracle needs at least one action")
        self.actions = list(actions)
        table = dict(DEFAULT_PHRASES)
        table.update({k: list(v) for k, v in (phrases or {}).items()})
        self.phrases = {}
        for action in self.actions:
            # The action's own name ("turn_left" -> "turn left") always counts.
            own = normalise_text(action)
            listed = [normalise_text(p) for p in table.get(action, [])]
            self.phrases[action] = listed + ([own] if own not in listed else [])
        self._patterns = [
            (index, re.compile(r"\b(?:" + "|".join(re.escape(p) for p in self.phrases[a]) + r")\b"))
            for index, a in enumerate(self.actions)
        ]

    def canonical_phrases(self) -> List[str]:
        """One phrase per action, in action order: the candidates of ``score`` mode."""
        return [self.phrases[a][0] for a in self.actions]

    def label(self, text: str) -> int:
        normalised = normalise_text(text or "")
        found = {index for index, pattern in self._patterns if pattern.search(normalised)}
        return found.pop() if len(found) == 1 else UNMAPPED

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray([self.label(t) for t in texts], dtype=np.int64)


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
        if "stop" not in self.actions:
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
        stop = self._index("stop")
        labels = np.full(linear.shape, stop, np.int64) if xp is np else _torch_full(linear, stop)
        forward = linear >= self.linear_deadband
        backward = linear <= -self.linear_deadband
        labels[forward] = self._index("move_forward")
        labels[backward] = self._index("move_backward") if "move_backward" in self.actions else stop
        turning = (xp.abs(angular) >= self.angular_deadband) & (
            xp.abs(angular) / self.angular_scale >= xp.abs(linear) / self.linear_scale
        )
        labels[turning & (angular > 0)] = self._index("turn_left")
        labels[turning & (angular < 0)] = self._index("turn_right")
        if self.gripper_index is not None and "grasp" in self.actions:
            labels[vectors[..., self.gripper_index] > self.gripper_threshold] = self._index("grasp")
        return labels


def _namespace(array):
    if isinstance(array, np.ndarray):
        return np
    import torch

    return torch


def _torch_full(like, value):
    import torch

    return torch.full(like.shape, value, dtype=torch.int64, device=like.device)
