"""The policy protocol every adapter implements, as a base class with one method per inference mode.

An adapter receives a batch of float pixel tensors already on its device (B x 3 x H x W in [0, 1],
H x W = ``input_size``: the space the certified radius lives in) plus one instruction, and returns raw
outputs; the guard's oracle turns them into action indices. Normalisation to the model's mean/std
happens inside the adapter, on the device; nothing runs a processor per noisy image.

Modes (an adapter lists the ones it implements in ``modes``; the others raise :class:`PolicyError`):
- ``score``: ``score(pixels, instruction, phrases)`` -> B x C log-likelihoods of closed-set phrases
  (one batched forward per noisy image; fast);
- ``generate``: ``generate(pixels, instruction)`` -> B strings (greedy decoding; general);
- ``action``: ``act(pixels, instruction, state)`` -> B x T x D continuous actions (T = 1 for
  single-step policies; binning oracle).

Attacks differentiate the policy: an adapter that supports it sets ``differentiable`` and implements
:meth:`Policy.log_likelihoods` (``score`` with autograd on). Nothing assumes it of other adapters.

``probes``: a policy trained on a known task (the built-in ones) brings that task's frames and
instructions for the configure-time sensitivity check; others are probed with
:func:`generic_probe_frames` and the ``probe_instructions`` parameter.
"""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..errors import PolicyError  # noqa: F401  (its home for the adapters: policies.base.PolicyError)

MODES = ("score", "generate", "action")




@dataclass
class Probes:
    """Clearly different frames (HxWx3 uint8 RGB) and instructions for the sensitivity check."""

    frames: List[np.ndarray]
    instructions: List[str]


class Policy:
    """Base class of the adapters: declares what a policy offers, and refuses what it does not."""

    model_id: str = "policy"
    device: torch.device = torch.device("cpu")
    input_size: Tuple[int, int] = (224, 224)
    modes: Tuple[str, ...] = ()
    differentiable: bool = False
    probes: Optional[Probes] = None
    # The torch modules (attribute paths) whose ``forward`` ``torch_compile`` compiles: the batched hot path.
    compiled_modules: Tuple[str, ...] = ("model",)
    # The torch modules whose Linear layers int8 quantization swaps (CPU without native bfloat16)
    quantized_modules: Tuple[str, ...] = ()
    precision: str = ""  # what the forwards compute in, when the guard changed it ("int8"); "" = as loaded

    def score(self, pixels: torch.Tensor, instruction: str, phrases: Sequence[str]) -> torch.Tensor:
        """B x C log-likelihoods of each phrase as the answer (``score`` mode)."""
        raise self._unsupported("score")

    def generate(self, pixels: torch.Tensor, instruction: str) -> List[str]:
        """B answers by greedy decoding (``generate`` mode)."""
        raise self._unsupported("generate")

    def act(self, pixels: torch.Tensor, instruction: str, state: Optional[torch.Tensor] = None) -> torch.Tensor:
        """B x T x D actions (``action`` mode); ``state`` is the robot state, B x S, when the policy takes one."""
        raise self._unsupported("action")

    def log_likelihoods(self, pixels: torch.Tensor, instruction: str, phrases: Sequence[str]) -> torch.Tensor:
        """:meth:`score` with autograd left on: what attacks differentiate (``differentiable`` policies)."""
        raise PolicyError(f"policy {self.model_id} offers no gradients (attacks need a differentiable policy)")

    def release(self) -> None:
        """Free the model's memory (lifecycle cleanup); the policy is unusable afterwards."""

    def clear_caches(self) -> None:
        """Forget what was computed with the current weights (prompt caches, text embeddings)."""

    def quantize_int8(self) -> Callable[[], None]:
        """Swap the Linear layers of :attr:`quantized_modules` for dynamically quantized int8 ones, in place
        (:class:`Int8Swap`); returns the undo. PolicyError when there is nothing to quantize."""
        modules = [_attribute(self, path) for path in self.quantized_modules]
        if not modules or not all(isinstance(m, torch.nn.Module) for m in modules):
            raise PolicyError(f"policy {self.model_id} has no torch modules {self.quantized_modules} to quantize")
        swaps = [Int8Swap(module) for module in modules]
        for swap in swaps:
            swap.apply()
        self._int8 = swaps
        self.clear_caches()
        self.precision = "int8"

        def undo() -> None:
            for swap in reversed(swaps):
                swap.restore()
            self._int8 = []
            self.clear_caches()
            self.precision = ""

        return undo

    @contextlib.contextmanager
    def full_precision(self) -> Iterator[None]:
        """The float Linear layers in place of int8 ones inside the block: int8 layers have no gradients, so
        attacks differentiate the float policy (a surrogate of the int8 one the guard runs)."""
        swaps = getattr(self, "_int8", [])
        for swap in swaps:
            swap.restore()
        try:
            yield
        finally:
            for swap in swaps:
                swap.apply()

    def compile(self, backend: str) -> None:
        """Compile the ``forward`` of each module in :attr:`compiled_modules` with ``torch.compile`` (static
        shapes: the guard pads batches to the few sizes it warms at configure, so no decision compiles).
        ``backend``: ``inductor`` (generated kernels: the speed-up) or ``eager`` (graph capture only, torch's
        own kernels: checks that a model compiles). PolicyError when a module is missing."""
        import torch._dynamo

        # Every warmed batch size is one compiled graph per captured frame; the default limit (8) would make
        # dynamo fall back to uncompiled code after a few sizes.
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        modules = {path: _attribute(self, path) for path in self.compiled_modules}
        for path, module in modules.items():  # all found before any is compiled: never half compiled
            if not isinstance(module, torch.nn.Module):
                raise PolicyError(f"policy {self.model_id} has no torch module {path!r} to compile")
        self._uncompiled = {path: module.forward for path, module in modules.items()}
        for module in modules.values():
            module.forward = torch.compile(module.forward, backend=backend, dynamic=False)

    @contextlib.contextmanager
    def uncompiled(self) -> Iterator[None]:
        """Run the original (uncompiled) forwards inside the block (the bench's ``compile_speedup`` baseline).
        The compiled code stays cached for after it."""
        originals: Dict[str, object] = getattr(self, "_uncompiled", {})
        swapped = {}
        for path, forward in originals.items():
            module = _attribute(self, path)
            swapped[path] = module.forward
            module.forward = forward
        try:
            yield
        finally:
            for path, forward in swapped.items():
                _attribute(self, path).forward = forward

    def _unsupported(self, mode: str) -> PolicyError:
        return PolicyError(f"policy {self.model_id} supports modes {tuple(self.modes)}, not {mode!r}")


class Int8Swap:
    """Every ``torch.nn.Linear`` of a model (float32) and torch's dynamically quantized int8 Linear made from
    it (weights int8 per tensor, activations quantized per batch): :meth:`apply` puts the int8 ones in
    place, :meth:`restore` the original float ones (kept, so restoring is exact). PolicyError when the
    model has no such layer."""

    def __init__(self, model: torch.nn.Module):
        from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
        from torch.ao.quantization import default_dynamic_qconfig

        self.layers = []  # (parent, name, float module, int8 module)
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if type(child) is torch.nn.Linear and child.weight.dtype == torch.float32:
                    child.qconfig = default_dynamic_qconfig
                    quantized = DynamicLinear.from_float(child)
                    del child.qconfig
                    self.layers.append((parent, name, child, quantized))
        if not self.layers:
            raise PolicyError("int8: the model has no float32 Linear layer to quantize")

    def apply(self) -> None:
        for parent, name, _, quantized in self.layers:
            setattr(parent, name, quantized)

    def restore(self) -> None:
        for parent, name, original, _ in self.layers:
            setattr(parent, name, original)


def _attribute(owner: object, path: str) -> object:
    """``owner.a.b`` for ``path`` ``'a.b'`` (None where a link is missing)."""
    return functools.reduce(lambda value, name: getattr(value, name, None), path.split("."), owner)


def generic_probe_frames(height: int = 96, width: int = 128) -> List[np.ndarray]:
    """Clearly different frames for any camera policy: black, white, mid grey, left/right and top/bottom
    halves, and saturated red, green and blue."""
    black = np.zeros((height, width, 3), np.uint8)
    frames = [black, np.full_like(black, 255), np.full_like(black, 128)]
    left = black.copy()
    left[:, : width // 2] = 255
    top = black.copy()
    top[: height // 2] = 255
    frames += [left, left[:, ::-1].copy(), top]
    for channel in range(3):
        colour = black.copy()
        colour[:, :, channel] = 255
        frames.append(colour)
    return frames
