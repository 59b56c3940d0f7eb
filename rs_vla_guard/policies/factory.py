"""The one place that picks a policy adapter: :func:`make_policy`.

A policy is named by the ``policy`` parameter: an embedded default (``builtin``, ``builtin-pi0``,
``builtin-tokens``, ``builtin-clip``, ``builtin-arm``), a local
model directory whose adapter ``policy_type`` names (``auto`` reads the directory's ``config.json``), or
``python:package.module:factory``, the user's own policy: ``factory(params, device)`` returns an object
with the protocol's ``act`` (a LeRobot or openpi policy in a small wrapper, or any torch module), checked
and completed by :class:`.user.UserPolicy`.

Adding a policy type is one new module or folder under ``policies/`` with a
``load(path, params, device) -> Policy`` function, plus one line in :data:`ADAPTERS` (and, for a
detectable type, in :func:`detect_type`); adding an embedded default is one line in :data:`BUILTINS`
naming a module that provides ``MODEL_DIR``, ``POLICY_TYPE`` and ``probes()``. Modules are imported
only when their policy is asked for, so the guard never imports a concrete adapter.
"""
from __future__ import annotations

import importlib
import json
import os
from typing import Any, Callable, Dict

import torch

from .base import Policy, PolicyError

# policy_type -> "module:function" that loads a model directory
ADAPTERS: Dict[str, str] = {
    "vlm": "rs_vla_guard.policies.transformers_vlm:load",
    "pi0": "rs_vla_guard.policies.pi0:load",
    "tokens": "rs_vla_guard.policies.action_tokens:load",
    "clip": "rs_vla_guard.policies.dual_encoder:load",
}
# embedded default -> module with MODEL_DIR, POLICY_TYPE and probes()
BUILTINS: Dict[str, str] = {
    "builtin": "rs_vla_guard.policies.builtin",
    "builtin-pi0": "rs_vla_guard.policies.builtin_pi0",
    "builtin-tokens": "rs_vla_guard.policies.builtin_tokens",
    "builtin-clip": "rs_vla_guard.policies.builtin_clip",
    "builtin-arm": "rs_vla_guard.policies.builtin_arm",
}
# config.json "model_type" -> policy_type (anything else with a config is an image-text-to-text VLM)
MODEL_TYPES: Dict[str, str] = {"pi0": "pi0", "clip": "clip", "siglip": "clip"}
USER_PREFIX = "python:"


def _resolve(target: str) -> Callable:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def detect_type(path: str) -> str:
    """The adapter for a model directory, from its ``config.json`` (image-text-to-text models: ``vlm``, or
    ``tokens`` when an ``action_stats.json`` beside it describes action tokens)."""
    config_path = os.path.join(path, "config.json")
    if not os.path.isfile(config_path):
        raise PolicyError(f"policy directory not found or has no config.json: {path}")
    try:
        with open(config_path) as handle:
            config = json.load(handle)
    except (OSError, ValueError) as error:
        raise PolicyError(f"unreadable config.json in {path}: {error}") from error
    detected = MODEL_TYPES.get(config.get("model_type") if isinstance(config, dict) else None, "vlm")
    if detected == "vlm":
        from .action_tokens import is_action_token_model

        if is_action_token_model(path):  # an action_stats.json with action tokens beside a VLM
            return "tokens"
    return detected


def make_policy(params: Dict[str, Any], device: torch.device) -> Policy:
    """The policy the parameters name, loaded on ``device``: PolicyError if it cannot be."""
    name = params["policy"]
    probes = None
    if name.startswith(USER_PREFIX):
        from .user import load_user_policy

        return load_user_policy(name[len(USER_PREFIX):], params, device)
    if name in BUILTINS:
        builtin = importlib.import_module(BUILTINS[name])
        path, policy_type, probes = builtin.MODEL_DIR, builtin.POLICY_TYPE, builtin.probes()
    else:
        path, policy_type = name, params["policy_type"]
        if not os.path.isdir(path):
            raise PolicyError(f"policy directory not found: {path}")
        if policy_type == "auto":
            policy_type = detect_type(path)
    if policy_type not in ADAPTERS:
        raise PolicyError(f"unknown policy_type {policy_type!r}; known: {', '.join(sorted(ADAPTERS))}")
    policy = _resolve(ADAPTERS[policy_type])(path, params, device)
    if probes is not None:
        policy.probes = probes
    return policy
