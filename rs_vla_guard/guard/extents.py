"""Extent certificates (transformation smoothing, docs/theory.md, section 8) for the guard's decisions and for
``rs-vla-guard extent``. A part of :class:`~.guard.Guard`."""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple

import numpy as np
import torch

from .. import settings as P
from ..certification import extent
from ..certification.extent import ExtentCertificate
from ..control.inputs import instruction_problem
from ..sampling import TransformSampler, predict_clean


class ExtentMixin:
    """Extent checks of a decision, and the extent command's certificate and sweep."""

    def _extents(self, clean: torch.Tensor, instruction: str, state: Optional[torch.Tensor], certificate,
                 out_of_time: Optional[Callable[[], bool]] = None) -> Tuple[ExtentCertificate, ...]:
        """Each ``extent_checks`` entry's threshold test for what the L2 certificate certified (its candidate,
        or its fallback set), by transformation smoothing: samples of its own, its share of alpha. Stops at the
        first that fails (the decision is a stop either way)."""
        target = certificate.fallback or (certificate.candidate,)
        classify = self.classifier(instruction, state)
        results = []
        for name, smoothing in self.extent_smoothings.items():
            sampler = TransformSampler(classify, clean, smoothing, batch_size=self.batch_size, generator=self.generator)
            result = extent.certify_extent_threshold(
                sampler, smoothing, extent_threshold=self.extent_thresholds[name],
                alpha=self.params["alpha"] / self._hypotheses(), n_max=self.params["n_max"],
                batch_size=self.batch_size, target=target, out_of_time=out_of_time)
            results.append(result)
            if not result.certified:
                break
        return tuple(results)

    def extent_smoothing(self, transform: str) -> extent.ExtentSmoothing:
        """``transform``'s smoothing under this guard's ``extent_smoothing`` and ``extent_blur_smoothing``."""
        if transform not in extent.TRANSFORMS:
            raise ValueError(f"unknown transform {transform!r}; use {', '.join(extent.TRANSFORMS)}")
        return P.extent_smoothings(self.params, names=[transform])[transform]

    def certify_extent(self, frame_rgb, instruction: str, transform: str, *, n: int, alpha: float,
                       state=None) -> Tuple[Optional[str], ExtentCertificate]:
        """(action, its extent certificate) for ``transform`` on one frame: the action is f on the clean frame
        (None when unmapped: then nothing is certified), the interval the largest that ``n`` transformed
        samples certify at ``alpha`` (``rs-vla-guard extent``)."""
        classify, clean, smoothing = self._extent_inputs(frame_rgb, instruction, transform, state)
        label = predict_clean(classify, clean)
        sampler = TransformSampler(classify, clean, smoothing, batch_size=self.batch_size, generator=self.generator)
        target = () if label is None else (label,)
        return (None if label is None else self.actions[label],
                extent.certify_extent(sampler, smoothing, n=n, alpha=alpha, target=target))

    def extent_sweep(self, frame_rgb, instruction: str, transform: str, offsets: Sequence, *, samples: int,
                     state=None) -> np.ndarray:
        """The smoothed classifier along the parameter: for each offset delta (a number; shift: (dx, dy)), the
        share of ``samples`` transformed samples h(delta + theta) in each action (len(offsets) x actions;
        unmapped samples count in no column). What ``extent --plot`` draws and the brute-force checks sweep."""
        classify, clean, smoothing = self._extent_inputs(frame_rgb, instruction, transform, state)
        shares = np.zeros((len(offsets), len(self.actions)))
        for row, offset in enumerate(offsets):
            sampler = TransformSampler(classify, clean, smoothing, batch_size=self.batch_size,
                                       generator=self.generator, offset=offset)
            labels = sampler(samples)
            shares[row] = np.bincount(labels[labels >= 0], minlength=len(self.actions)) / samples
        return shares

    def _extent_inputs(self, frame_rgb, instruction: str, transform: str, state):
        """(f for the instruction, the clean input, the smoothing); ValueError for a bad frame or instruction."""
        problem = instruction_problem(instruction, self.params)
        if problem is not None:
            raise ValueError(problem[1])
        smoothing = self.extent_smoothing(transform)
        clean = torch.from_numpy(self._input(frame_rgb)).to(self.policy.device)
        return self.classifier(instruction.strip(), self._state_tensor(state)), clean, smoothing
