"""The user's own policy: ``policy: python:package.module:factory``.

``factory(params, device)`` (importable from the robot's Python path) returns an object with at least

- ``act(pixels, instruction, state=None, generator=None) -> B x T x D`` (or B x D) actions for B noisy
  inputs (B x 3 x H x W in [0, 1] on ``device``; draw any policy noise from ``generator``, the guard's
  seeded one, so decisions are reproducible);
- ``input_size = (H, W)``, the resolution the policy wants its images at.

Optional: ``action_names`` (the D dimensions, e.g. ``["linear_x", "angular_z"]``), ``state_dim`` (how many
robot-state values ``act`` needs; 0 = none), ``model_id``, ``actions_with_grad`` (``act`` with autograd on,
for attacks; ``differentiable = True``), ``probes``, ``release()``. :class:`UserPolicy` checks the object
once at load time and fills in the rest, so a mistake is a clear error at configure, not a crash later.
"""
from __future__ import annotations

import importlib
from typing import Dict

import torch

from .base import Policy, PolicyError


class UserPolicy(Policy):
    """A user's policy object behind the protocol (``action`` mode)."""

    modes = ("action",)

    def __init__(self, inner, *, device: torch.device, model_id: str):
        self.inner = inner
        self.device = device
        self.model_id = str(getattr(inner, "model_id", model_id))
        size = getattr(inner, "input_size", None)
        if not (isinstance(size, (tuple, list)) and len(size) == 2 and all(int(v) > 0 for v in size)):
            raise PolicyError(f"user policy {self.model_id}: input_size must be (height, width), got {size!r}")
        self.input_size = (int(size[0]), int(size[1]))
        if not callable(getattr(inner, "act", None)):
            raise PolicyError(f"user policy {self.model_id}: no act(pixels, instruction, state, generator) method")
        self.action_names = list(getattr(inner, "action_names", None) or [])
        self.state_dim = int(getattr(inner, "state_dim", 0) or 0)
        self.differentiable = bool(getattr(inner, "differentiable", False)) and callable(
            getattr(inner, "actions_with_grad", None))
        self.probes = getattr(inner, "probes", None)
        # torch_compile: the user object names its modules (default: its ``model``)
        self.compiled_modules = tuple(f"inner.{path}" for path in getattr(inner, "compiled_modules", ("model",)))

    @staticmethod
    def _chunk(actions, batch: int) -> torch.Tensor:
        actions = torch.as_tensor(actions)
        if actions.ndim == 2:
            actions = actions[:, None, :]
        if actions.ndim != 3 or actions.shape[0] != batch:
            raise PolicyError(f"a user policy's act must return B x T x D (or B x D) actions for B = {batch}, "
                              f"got shape {tuple(actions.shape)}")
        return actions.float()

    @torch.inference_mode()
    def act(self, pixels, instruction, state=None, generator=None):
        return self._chunk(self.inner.act(pixels, instruction, state=state, generator=generator), pixels.shape[0])

    def actions_with_grad(self, pixels, instruction, state=None, generator=None, noise=None):
        if not self.differentiable:
            raise PolicyError(f"user policy {self.model_id} offers no actions_with_grad (attacks need gradients)")
        return self._chunk(self.inner.actions_with_grad(pixels, instruction, state=state, generator=generator,
                                                        noise=noise), pixels.shape[0])

    def release(self) -> None:
        release = getattr(self.inner, "release", None)
        if callable(release):
            release()


def load_user_policy(target: str, params: Dict, device: torch.device) -> UserPolicy:
    """``package.module:factory`` -> the checked policy. PolicyError when it cannot be imported or built."""
    module_name, _, factory_name = target.partition(":")
    if not module_name or not factory_name:
        raise PolicyError(f"policy 'python:{target}' must name a module and a factory: python:package.module:factory")
    try:
        factory = getattr(importlib.import_module(module_name), factory_name)
    except (ImportError, AttributeError) as error:
        raise PolicyError(f"cannot import the user policy factory {target}: {error}") from error
    try:
        inner = factory(dict(params), device)
    except Exception as error:  # the user's code: report, do not crash
        raise PolicyError(f"the user policy factory {target} failed: {type(error).__name__}: {error}") from error
    return UserPolicy(inner, device=device, model_id=target)
