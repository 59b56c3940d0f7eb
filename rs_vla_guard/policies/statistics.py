"""Action statistics beside a model (``action_stats.json``): how a policy's normalised outputs become robot
units, and what each output dimension is called. Shared by the pi0 and the action-token adapters.

The file: ``{"actions": {"q01": [...], "q99": [...], "mask": [...]} or {"mean": [...], "std": [...]},
"names": [...], "state": {...}, "cameras": N}``; an action-token model adds ``"action_tokens"``
(see :mod:`.action_tokens`). ``"relative_to_state": true`` in the actions' entry says the model outputs
joint positions relative to the robot state (openpi's delta actions): the adapter adds the state back, so
the guard always sees absolute positions.
"""
from __future__ import annotations

import json
import os
from typing import Dict, List, Optional, Tuple

import torch

from .base import PolicyError

STATS_FILE = "action_stats.json"


class ActionStats:
    """Normalisation of one feature (actions or state): mean/std, or q01/q99 mapped to [-1, 1]."""

    def __init__(self, spec: Dict, feature: str):
        self.feature = feature
        if "q01" in spec and "q99" in spec:
            low, high = torch.tensor(spec["q01"], dtype=torch.float32), torch.tensor(spec["q99"], dtype=torch.float32)
            self.scale, self.offset = (high - low) / 2, (high + low) / 2
        elif "mean" in spec and "std" in spec:
            self.scale = torch.tensor(spec["std"], dtype=torch.float32)
            self.offset = torch.tensor(spec["mean"], dtype=torch.float32)
        else:
            raise PolicyError(f"{feature} statistics need mean/std or q01/q99, got keys {sorted(spec)}")
        if self.scale.shape != self.offset.shape or self.scale.ndim != 1:
            raise PolicyError(f"{feature} statistics must be two lists of one value per dimension")
        mask = spec.get("mask")  # dimensions left as the model outputs them (OpenVLA's gripper, for one)
        self.keep = torch.tensor(mask, dtype=torch.bool) if mask is not None else torch.ones_like(self.scale, dtype=torch.bool)
        self.dim = int(self.scale.numel())
        self.relative_to_state = bool(spec.get("relative_to_state", False))

    def to(self, device: torch.device) -> "ActionStats":
        self.scale, self.offset, self.keep = self.scale.to(device), self.offset.to(device), self.keep.to(device)
        return self

    def normalise(self, values: torch.Tensor) -> torch.Tensor:
        return torch.where(self.keep, (values - self.offset) / (self.scale + 1e-8), values)

    def unnormalise(self, values: torch.Tensor) -> torch.Tensor:
        return torch.where(self.keep, values * self.scale + self.offset, values)


def read_stats(path: str, processor) -> Tuple[ActionStats, Optional[ActionStats], List[str], int]:
    """(action statistics, state statistics or None, action dimension names, cameras) for a model directory."""
    stats = read_stats_file(path)
    if stats is not None:
        actions = ActionStats(stats["actions"], "actions")
        state = ActionStats(stats["state"], "state") if stats.get("state") else None
        names = list(stats.get("names") or [f"a{i}" for i in range(actions.dim)])
        cameras = int(stats.get("cameras", 1))
    elif getattr(processor, "actions_mean", None) is not None:
        actions = ActionStats({"mean": processor.actions_mean, "std": processor.actions_std}, "actions")
        state = None
        if getattr(processor, "state_mean", None) is not None:
            state = ActionStats({"mean": processor.state_mean, "std": processor.state_std}, "state")
        names = [f"a{i}" for i in range(actions.dim)]
        cameras = 1
    else:
        raise PolicyError(f"no action statistics for {path}: add {STATS_FILE} (mean/std or q01/q99 per dimension)")
    if len(names) != actions.dim:
        raise PolicyError(f"{STATS_FILE}: {len(names)} names for {actions.dim} action dimensions")
    if cameras < 1:
        raise PolicyError(f"{STATS_FILE}: cameras must be >= 1, got {cameras}")
    if actions.relative_to_state and (state is None or state.dim < actions.dim):
        raise PolicyError(f"{STATS_FILE}: actions relative to the state need a state of >= {actions.dim} values")
    return actions, state, names, cameras


def read_stats_file(path: str) -> Optional[Dict]:
    """The parsed statistics file of a model directory, or None when there is none."""
    file = os.path.join(path, STATS_FILE)
    if not os.path.isfile(file):
        return None
    try:
        with open(file) as handle:
            stats = json.load(handle)
    except (OSError, ValueError) as error:
        raise PolicyError(f"unreadable {STATS_FILE} in {path}: {error}") from error
    if not isinstance(stats, dict) or not isinstance(stats.get("actions"), dict):
        raise PolicyError(f"{STATS_FILE} in {path} needs an 'actions' object (mean/std or q01/q99)")
    return stats
