"""What attacks differentiate: the guard's class scores and executed command as differentiable functions of
the image (``rs_vla_guard.attacks`` ascends them). A part of :class:`~.guard.Guard`."""
from __future__ import annotations

from typing import Callable, Optional

import torch

from ..policies.base import PolicyError
from ..sampling import make_generator

ATTACK_NOISE_DRAWS = 8  # fixed draws of a continuous policy's own noise that attack scores average over
ATTACK_SMOOTHING_DRAWS = 16  # fixed Gaussian draws an attack on the smoothed command averages over


class AttackMixin:
    """Differentiable scores and commands of the guard's policy, for attacks."""

    def attack_scores(self, instruction: str, state: Optional[torch.Tensor] = None
                      ) -> Callable[[torch.Tensor], torch.Tensor]:
        """Differentiable B x C scores of the actions for ``instruction`` whose argmax is (about) f's label:
        what attacks ascend. Phrase policies: the phrases' log-likelihoods; continuous policies: the binning
        oracle's class scores of the actions, differentiated through the policy (every flow-matching step)
        with its own noise held fixed at ``ATTACK_NOISE_DRAWS`` draws and the scores averaged over them (an
        expectation over the policy's randomness: an attack tuned to one draw of the flow noise misses the
        draws the robot actually gets). Only for policies that declare gradients (``Policy.differentiable``)."""
        if not self.policy.differentiable:
            raise PolicyError(f"policy {self.policy.model_id} ({self.mode} mode) offers no differentiable scores")
        device = self.policy.device
        if self.mode == "action":
            def expected_scores(pixels: torch.Tensor) -> torch.Tensor:
                count, draws = pixels.shape[0], ATTACK_NOISE_DRAWS
                copies = pixels.to(device).repeat_interleave(draws, dim=0)
                copy_state = None if state is None else state.to(device).repeat_interleave(draws, dim=0)
                with self.policy.full_precision():  # int8 layers have no gradients
                    scores = self.oracle.scores(self.policy.actions_with_grad(
                        copies, instruction, copy_state, generator=self._fixed_noise()))
                return scores.reshape(count, draws, -1).mean(dim=1)
            return expected_scores
        def phrase_scores(pixels: torch.Tensor) -> torch.Tensor:
            with self.policy.full_precision():  # int8 layers have no gradients
                return self.policy.log_likelihoods(pixels.to(device), instruction, self.phrases)
        return phrase_scores

    def attack_command(self, instruction: str, dimension: str, *, smoothed: bool,
                       state: Optional[torch.Tensor] = None) -> Callable[[torch.Tensor], torch.Tensor]:
        """Differentiable B inputs -> B values of one action dimension, what an attack on the executed command
        moves: with ``smoothed``, the value's expectation under ``ATTACK_SMOOTHING_DRAWS`` fixed draws of the
        guard's Gaussian noise (a smooth stand-in for the smoothed median ``continuous_command: median``
        executes), else under ``ATTACK_NOISE_DRAWS`` fixed draws of the policy's own noise (what the bare
        policy executes). Continuous, differentiable policies only."""
        if self.mode != "action" or not self.policy.differentiable:
            raise PolicyError(f"policy {self.policy.model_id} ({self.mode} mode) offers no differentiable command")
        if dimension not in self.dimensions:
            raise PolicyError(f"policy {self.policy.model_id} has no action dimension {dimension!r}")
        column = self.dimensions.index(dimension)

        def command(pixels: torch.Tensor) -> torch.Tensor:
            actions = self.oracle.reduce(self._expected_outputs(pixels, instruction, state, smoothed))
            return actions[..., column]
        return command

    def attack_chunk(self, instruction: str, *, smoothed: bool, state: Optional[torch.Tensor] = None
                     ) -> Callable[[torch.Tensor], torch.Tensor]:
        """Differentiable B inputs -> B x K x D executed waypoints of a chunked policy (K =
        ``chunk_execute_steps``), averaged as :meth:`attack_command` averages one dimension: over fixed draws
        of the guard's Gaussian noise with ``smoothed`` (a stand-in for the smoothed median chunk), else over
        the policy's own noise only."""
        if self.chunk_rules is None or not self.policy.differentiable:
            raise PolicyError(f"policy {self.policy.model_id} offers no differentiable action chunk")
        steps = self.chunk_rules.steps
        return lambda pixels: self._expected_outputs(pixels, instruction, state, smoothed)[:, :steps]

    def _expected_outputs(self, pixels: torch.Tensor, instruction: str, state: Optional[torch.Tensor],
                          smoothed: bool) -> torch.Tensor:
        """B inputs -> B x chunk x D actions, differentiable, each the mean over fixed draws: of the guard's
        Gaussian noise and the policy's own (``smoothed``: ``ATTACK_SMOOTHING_DRAWS``), or of the policy's own
        noise alone (``ATTACK_NOISE_DRAWS``)."""
        device, count = self.policy.device, pixels.shape[0]
        draws = ATTACK_SMOOTHING_DRAWS if smoothed else ATTACK_NOISE_DRAWS
        copies = pixels.to(device).repeat_interleave(draws, dim=0)
        if smoothed:
            copies = copies + self.params["sigma"] * torch.randn(copies.shape, device=device,
                                                                 generator=self._fixed_noise())
        copy_state = None if state is None else state.to(device).expand(count, -1).repeat_interleave(draws, dim=0)
        with self.policy.full_precision():  # int8 layers have no gradients
            actions = self.policy.actions_with_grad(copies, instruction, copy_state, generator=self._fixed_noise())
        if actions.ndim == 2:  # single-step policies
            actions = actions[:, None]
        return actions.reshape(count, draws, *actions.shape[1:]).mean(dim=1)

    def _fixed_noise(self) -> torch.Generator:
        """A generator seeded alike on every call: a policy's own noise held fixed (sensitivity, attacks)."""
        return make_generator(self.policy.device, 0)
