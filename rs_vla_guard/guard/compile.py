"""``torch_compile``: the policy's forwards compiled and warmed at configure, and the padded forward every
decision runs through (so no decision compiles). A part of :class:`~.guard.Guard`."""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import torch

from .. import certification
from ..policies.base import PolicyError
from ..sampling import compile_batch_sizes, make_generator
from ..oracles import UNMAPPED
from ..text import printable


def labels_of_scores(scores: torch.Tensor, batch: int, classes: int) -> torch.Tensor:
    if tuple(scores.shape) != (batch, classes):
        raise PolicyError(f"policy returned scores of shape {tuple(scores.shape)}, expected {(batch, classes)}")
    labels = scores.argmax(dim=1)
    return torch.where(torch.isfinite(scores).all(dim=1), labels, torch.full_like(labels, UNMAPPED))


class CompileMixin:
    """The compile check and the padded forward (the Guard supplies policy, params, mode and oracle)."""

    def _compile(self, backend: str) -> None:
        """``torch_compile``: compile the policy's forwards and warm every batch size a decision can run
        (:func:`~.sampling.compile_batch_sizes`) under every probe instruction (the prompt's shape is part
        of a graph) now, at configure, on noisy copies of the probe frames, checking the compiled labels
        against the uncompiled ones on the same inputs.

        Success: decisions under those instructions run compiled, any other instruction runs the original
        forwards, and no decision compiles (batches are padded to a warmed size); :attr:`compile_report`
        holds the sizes, instructions, seconds and label agreement. Failure (a model that does not
        compile, generate mode, agreement below 0.99): PolicyError with the reason, so configure fails and
        says why instead of the robot running a slower or different policy."""
        if self.mode == "generate":
            raise PolicyError("torch_compile needs policy_mode score or action: generation would compile at "
                              "every answer length")
        started = time.perf_counter()
        sizes = compile_batch_sizes(self.batch_size, self._first_batch_rows())
        probes = self.probes()
        clean = torch.from_numpy(np.stack([self.probe_input(f) for f in probes.frames])).to(self.policy.device)
        generator = make_generator(self.policy.device, 0)
        batches = []
        for size in sizes:
            rows = clean[torch.arange(size, device=clean.device) % clean.shape[0]]
            noise = torch.randn(rows.shape, generator=generator, device=rows.device, dtype=rows.dtype)
            batches.append(rows + self.params["sigma"] * noise)
        instructions = list(dict.fromkeys(text.strip() for text in probes.instructions))
        reference = [self._fixed_labels(batch, text) for text in instructions for batch in batches]
        try:
            self.policy.compile(backend)
            compiled = [self._fixed_labels(batch, text) for text in instructions for batch in batches]
        except PolicyError:
            raise
        except Exception as error:  # dynamo and inductor raise many types; the operator needs the message
            raise PolicyError(f"torch_compile {backend} failed for {self.policy.model_id}: "
                              f"{type(error).__name__}: {printable(str(error), 300)}; set torch_compile: off") from error
        agreement = float(np.mean(torch.cat(reference).numpy() == torch.cat(compiled).numpy()))
        if agreement < 0.99:
            raise PolicyError(f"torch_compile {backend} changed {1 - agreement:.1%} of {self.policy.model_id}'s "
                              f"labels on noisy probe frames (at most 1% allowed); set torch_compile: off")
        self.compiled_sizes = sizes
        self.compiled_instructions = frozenset(instructions)
        self.compile_report = {"backend": backend, "batch_sizes": list(sizes), "instructions": instructions,
                               "label_agreement": round(agreement, 4), "seconds": round(time.perf_counter() - started, 1)}

    def _first_batch_rows(self) -> int:
        """Rows of a decision's first forward: the betting test's first look (at most ``batch_size``) plus
        the clean frame; 1 (the clean frame alone) for the other tests."""
        p = self.params
        if p["certify_mode"] != "betting":
            return 1
        first = certification.betting.decision_first_look(
            sigma=p["sigma"], alpha=p["alpha"] / self._hypotheses(), radius_threshold=p["radius_threshold"],
            n_max=p["n_max"], oracle_error=p["oracle_error"], symmetric_oracle=p["symmetric_oracle"],
            hypotheses=1 + len(self._fallback_labels))
        return min(first or p["n_max"], self.batch_size) + 1

    def _fixed_labels(self, pixels: torch.Tensor, instruction: str) -> torch.Tensor:
        """Labels of ``pixels`` with a policy's own noise held fixed: the same inputs give the same labels
        unless the forward itself changed (the compile check)."""
        with torch.inference_mode():
            if self.mode == "action":
                vectors = self.oracle.reduce(self.policy.act(pixels, instruction, self._probe_state(),
                                                             self._fixed_noise()))
                return torch.as_tensor(self.oracle(vectors)).cpu()
            return labels_of_scores(self.policy.score(pixels, instruction, self.phrases), pixels.shape[0],
                                     len(self.phrases)).cpu()

    def _forward(self, method: Callable[..., Any], pixels: torch.Tensor, instruction: str, *args) -> Any:
        """``method(pixels, instruction, *args)``. With a compiled policy and a warmed instruction the batch
        is padded (its last row repeated) to the next warmed size and the padding cut from the output; any
        other instruction runs the original forwards. Either way a decision never compiles."""
        if not self.compiled_sizes:
            return method(pixels, instruction, *args)
        if instruction not in self.compiled_instructions:
            with self.policy.uncompiled():
                return method(pixels, instruction, *args)
        rows = pixels.shape[0]
        size = next((s for s in self.compiled_sizes if s >= rows), rows)
        if size == rows:
            return method(pixels, instruction, *args)
        padding = pixels[-1:].expand(size - rows, *pixels.shape[1:])
        return method(torch.cat([pixels, padding]), instruction, *args)[:rows]
