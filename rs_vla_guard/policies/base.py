"""The policy protocol every adapter implements.

An adapter receives a batch of float pixel tensors already on its device (B x 3 x H x W in [0, 1],
H x W = ``input_size``: the space the certified radius lives in) plus one instruction, and returns raw
outputs; the guard's oracle turns them into action indices. Normalisation to the model's mean/std
happens inside the adapter, on the device.

Modes (an adapter lists the ones it supports in ``modes``):
- ``score``: ``score(pixels, instruction, phrases)`` -> B x C log-likelihoods of closed-set phrases
  (one batched forward per noisy image; fast);
- ``generate``: ``generate(pixels, instruction)`` -> B strings (greedy decoding; general);
- ``action``: ``act(pixels, instruction)`` -> B x D continuous action vectors (binning oracle).
"""
from __future__ import annotations

from typing import List, Protocol, Sequence, Tuple, runtime_checkable

import torch


class PolicyError(RuntimeError):
    """A policy could not be loaded or run; the message says why."""


@runtime_checkable
class Policy(Protocol):
    model_id: str
    device: torch.device
    input_size: Tuple[int, int]
    modes: Tuple[str, ...]

    def score(self, pixels: torch.Tensor, instruction: str, phrases: Sequence[str]) -> torch.Tensor: ...

    def generate(self, pixels: torch.Tensor, instruction: str) -> List[str]: ...

    def act(self, pixels: torch.Tensor, instruction: str) -> torch.Tensor: ...

    def release(self) -> None: ...
