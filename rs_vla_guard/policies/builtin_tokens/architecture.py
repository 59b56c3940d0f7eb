"""The built-in action-token policy's architecture: the built-in VLM's tiny LLaVA, its word-level vocabulary
extended by ``ACTION_BINS`` action tokens (the last ids, as in OpenVLA), and the statistics file that tells
the action-token adapter how to read them.

This file only *builds*; training is ``python -m rs_vla_guard.training.builtin_tokens``.
"""
from __future__ import annotations

import json
import os

from ..builtin import architecture as vlm

ACTION_BINS = 256
ACTION_NAMES = ["linear_x", "angular_z"]
# The controller's range (linear x in [0, 0.3] m/s, yaw in [-0.8, 0.8] rad/s) mapped to [-1, 1], like
# OpenVLA's q01/q99 normalisation.
ACTION_STATS = {"q01": [0.0, -0.8], "q99": [0.3, 0.8]}
ACTION_TOKEN = "<act_{:03d}>"


def build_tokenizer():
    """The built-in vocabulary, then ``ACTION_BINS`` action tokens: they are the vocabulary's last ids."""
    tokenizer = vlm.build_tokenizer()
    tokenizer.add_tokens([ACTION_TOKEN.format(i) for i in range(ACTION_BINS)])
    return tokenizer


def build_processor(tokenizer=None):
    return vlm.build_processor(tokenizer or build_tokenizer())


def build_model(tokenizer, seed: int = 0, init: str = None):
    """The tiny LLaVA with room for the action tokens: fresh, or ``init`` (the built-in VLM's directory) with
    its embeddings extended (new rows start at the mean of the old ones)."""
    if not init:
        return vlm.build_model(tokenizer, seed=seed)
    import torch
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_pretrained(init, dtype=torch.float32)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    return model


def statistics() -> dict:
    """``action_stats.json``: the normalisation, the dimensions' names and the action-token layout."""
    return {"actions": ACTION_STATS, "names": ACTION_NAMES,
            "action_tokens": {"bins": ACTION_BINS, "scheme": "uniform"}}


def save_stats(path: str) -> None:
    with open(os.path.join(path, "action_stats.json"), "w") as handle:
        json.dump(statistics(), handle, indent=2)
