"""The built-in arm policy's architecture: the built-in pi0's tiny ``PI0ForConditionalGeneration``
(hidden size 64, two layers each) at 48x48 images in 8x8 patches (36 image tokens: finer positions than
the base's 16), a chunk of 8 steps of the 4 joints, and the 4 joint positions as state.

Actions are relative to the state (``relative_to_state`` in ``action_stats.json``): the model outputs
where each joint goes from where it is, and the adapter adds the measured positions back.
"""
from __future__ import annotations

import json
import os

from ..builtin_pi0 import architecture as pi0_architecture

IMAGE_SIZE = 48
PATCH_SIZE = 8
CHUNK_SIZE = 8
DT_S = 0.1  # seconds between waypoints (the training expert's)
JOINTS = ["base_yaw", "shoulder", "elbow", "wrist"]
ACTION_STATS = {"mean": [0.0] * 4, "std": [0.25] * 4, "relative_to_state": True}
STATE_STATS = {"mean": [0.0, 0.5, 1.5, 1.0], "std": [0.6, 0.4, 0.5, 0.4]}


def build_tokenizer():
    """The built-in VLM's word-level vocabulary and the arm's verb."""
    tokenizer = pi0_architecture.build_tokenizer()
    tokenizer.add_tokens(["reach"])
    return tokenizer


def build_processor(tokenizer=None):
    return pi0_architecture.build_processor(tokenizer or build_tokenizer(), image_size=IMAGE_SIZE, patch_size=PATCH_SIZE,
                                            chunk_size=CHUNK_SIZE, action_stats=ACTION_STATS, state_dim=len(JOINTS))


def build_model(tokenizer, seed: int = 0):
    return pi0_architecture.build_model(tokenizer, seed, image_size=IMAGE_SIZE, patch_size=PATCH_SIZE,
                                        chunk_size=CHUNK_SIZE, action_dim=len(JOINTS), state_dim=len(JOINTS))


def save_stats(path: str) -> None:
    """``action_stats.json``: relative joint actions, the joint state's normalisation and the joints' names."""
    with open(os.path.join(path, "action_stats.json"), "w") as handle:
        json.dump({"actions": ACTION_STATS, "state": STATE_STATS, "names": JOINTS, "chunk_dt_s": DT_S}, handle,
                  indent=2)
