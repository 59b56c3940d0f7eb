"""What the guard checks and measures before it decides: the sensitivity probes (a policy that ignores its
image or instruction is refused), the warm-up and the real-time budget (docs/theory.md, section 10). A part of
:class:`~.guard.Guard`."""
from __future__ import annotations

import time
from typing import Any, Dict, Optional

import numpy as np
import torch

from .. import settings as P
from ..control.budget import Budget, budget_for
from ..policies.base import Probes, generic_probe_frames
from ..sampling import auto_batch_size, make_generator
from .decision import BlindPolicyError


class ProbeMixin:
    """Sensitivity check, warm-up, budget."""

    def probe_input(self, frame) -> np.ndarray:
        """A probe frame as the policy's input: the same frame for every camera of a multi-camera policy."""
        cameras = int(getattr(self.policy, "cameras", 1))
        if cameras > 1 and not isinstance(frame, (list, tuple)):
            frame = [frame] * cameras
        return self._input(frame)

    def output_signature(self, pixels: torch.Tensor, instruction: str) -> torch.Tensor:
        """A continuous summary of the policy's outputs, used to tell whether inputs change them."""
        if self.mode == "action":  # the policy's own noise held fixed, so only the inputs can move it
            actions = self._forward(self.policy.act, pixels, instruction, self._probe_state(), self._fixed_noise())
            return self.oracle.reduce(actions).float()
        if "score" in self.policy.modes:
            return self._forward(self.policy.score, pixels, instruction, self.phrases).softmax(dim=1)
        labels = self.classifier(instruction)(pixels)
        return torch.nn.functional.one_hot(labels.clamp(min=0), len(self.actions)).float()

    def probes(self) -> Probes:
        """Frames and instructions of the sensitivity check: the policy's own task's when it brings them
        (the built-in policies), else generic frames and the ``probe_instructions`` parameter."""
        if self.policy.probes is not None:
            return self.policy.probes
        return Probes(generic_probe_frames(), list(self.params["probe_instructions"]))

    def check_sensitivity(self, tolerance: float = 0.02) -> Dict[str, float]:
        """Refuse a policy whose outputs do not move with clearly different images or instructions.

        Returns the largest output change seen for images and for instructions.
        """
        probes = self.probes()
        pixels = torch.from_numpy(np.stack([self.probe_input(f) for f in probes.frames])).to(self.policy.device)
        signatures = [self.output_signature(pixels, text) for text in probes.instructions]
        image_change = max(float((s - s[:1]).abs().max()) for s in signatures)
        instruction_change = max(float((s - signatures[0]).abs().max()) for s in signatures[1:])
        if image_change < tolerance:
            raise BlindPolicyError(
                f"policy {self.policy.model_id} ignores its image (largest output change across very different "
                f"frames: {image_change:.2g} < {tolerance}); set allow_blind_policy to override")
        if instruction_change < tolerance:
            raise BlindPolicyError(
                f"policy {self.policy.model_id} ignores its instruction (largest output change across "
                f"instructions: {instruction_change:.2g} < {tolerance}); set allow_blind_policy to override")
        return {"image_change": image_change, "instruction_change": instruction_change}

    def warm_up(self, instruction: Optional[str] = None, repeats: int = 1) -> Dict[str, float]:
        """Run one full sampling batch (``batch_size`` noisy copies of a probe frame) 1 + ``repeats`` times, so
        lazy initialisation and a CUDA warm-up happen now, not in a decision; the median of the timed runs
        (all but the first) seeds the batch-time estimate. Returns (and keeps in :attr:`warmup`)
        ``first_batch_s``, ``batch_seconds`` and ``frame_seconds`` (one probe frame to the policy's input)."""
        probes = self.probes()
        text = (instruction or probes.instructions[0]).strip()
        started = time.perf_counter()
        clean = torch.from_numpy(self.probe_input(probes.frames[0])).to(self.policy.device)
        frame_seconds = time.perf_counter() - started
        generator = make_generator(self.policy.device, 0)
        noise = torch.randn((self.batch_size, *clean.shape), generator=generator, device=clean.device, dtype=clean.dtype)
        pixels = clean.unsqueeze(0) + self.params["sigma"] * noise
        classify = self.classifier(text, self._probe_state())
        times = []
        for _ in range(1 + max(1, repeats)):
            started = time.perf_counter()
            with torch.inference_mode():
                classify(pixels)
            if self.policy.device.type == "cuda":
                torch.cuda.synchronize(self.policy.device)
            times.append(time.perf_counter() - started)
        batch_seconds = float(np.median(times[1:]))
        self.batch_time.seed(batch_seconds)
        self.warmup = {"first_batch_s": times[0], "batch_seconds": batch_seconds, "frame_seconds": frame_seconds}
        return dict(self.warmup)

    def budget(self, params: Optional[Dict[str, Any]] = None, *, frame_seconds: Optional[float] = None,
               batch_seconds: Optional[float] = None) -> Budget:
        """What ``params`` (default: the guard's) can certify within ``deadline_s`` here
        (:mod:`.control.budget`), from the warm-up's batch and frame times unless given, with alpha split as
        decisions split it."""
        if self.warmup is None and (batch_seconds is None or frame_seconds is None):
            self.warm_up()
        params = params if params is not None else self.params
        hypotheses = P.decision_hypotheses(params, dimensions=len(self.dimensions), action_mode=self.mode == "action")
        return budget_for(params, self.warmup["batch_seconds"] if batch_seconds is None else batch_seconds,
                          batch_size=self.batch_size, hypotheses=hypotheses,
                          frame_seconds=self.warmup["frame_seconds"] if frame_seconds is None else frame_seconds)

    def _auto_batch_size(self) -> int:
        """``batch_size: 0``: the largest batch that fits (CUDA), found once when the guard is built."""
        classify = self.classifier(self.probes().instructions[0], self._probe_state())
        return auto_batch_size(classify, (self.channels, *self.policy.input_size), self.policy.device,
                               limit=self.params["n_max"])

    def _probe_state(self) -> Optional[torch.Tensor]:
        return torch.zeros(1, self.state_dim) if self.state_dim else None
