"""The one dispatch point of the attacks: :class:`Attacker`."""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple

import numpy as np
import torch

from .. import actions as A
from . import ATTACKS, CHUNK_AIM, COMMAND_AIMS, PGD_AIMS, attack_targets
from .perturbations import noise, patch, pgd, pgd_away, pgd_command, rounding_floor, to_frame

Scores = Callable[[torch.Tensor], torch.Tensor]  # B x 3 x H x W -> B x C differentiable class scores


class Attacker:
    """One attack (``none``, ``noise``, ``patch`` or ``pgd``) with its L2 budget ``eps``.

    :meth:`perturb` returns the attacked policy input as an RGB uint8 frame of the policy's size and the
    achieved L2 distance to the clean input after rounding (never above ``eps``). ``noise`` draws from
    the attacker's own generator (seeded: an attack is reproducible); ``pgd`` needs the policy's
    differentiable class scores and aims at ``pgd_aim``'s wrong actions; with a command aim (``yaw``),
    ``scores`` is the differentiable executed command instead (B inputs -> B values) and PGD moves it as
    far as it can.
    """

    def __init__(self, attack: str, eps: float, *, pgd_steps: int = 10, pgd_aim: str = "any", seed: int = 0):
        if attack not in ATTACKS:
            raise ValueError(f"unknown attack {attack!r}; choose one of {', '.join(ATTACKS)}")
        if not eps >= 0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        if pgd_aim not in PGD_AIMS:
            raise ValueError(f"unknown PGD aim {pgd_aim!r}; choose one of {', '.join(PGD_AIMS)}")
        self.attack, self.eps, self.pgd_steps, self.pgd_aim = attack, float(eps), int(pgd_steps), pgd_aim
        self.generator = torch.Generator().manual_seed(int(seed))

    def perturb(self, clean: torch.Tensor, *, scores: Optional[Scores] = None, actions: Sequence[str] = (),
                safe_action: str = A.STOP, clean_action: Optional[str] = None) -> Tuple[np.ndarray, float]:
        """Attack the clean input (3 x H x W in [0, 1]). PGD: ``scores`` over ``actions``; the clean action
        is taken from ``scores`` on the clean input unless given."""
        if self.attack == "none":
            return to_frame(clean), rounding_floor(clean)
        if self.attack == "noise":
            return noise(clean, self.eps, self.generator)
        if self.attack == "patch":
            return patch(clean, self.eps)
        if self.pgd_aim == CHUNK_AIM:
            if scores is None:
                raise ValueError("pgd aimed at a chunk needs the policy's differentiable chunk")
            return pgd_away(clean, self.eps, scores, steps=self.pgd_steps, generator=self.generator)
        if self.pgd_aim in COMMAND_AIMS:
            if scores is None:
                raise ValueError("pgd aimed at a command needs the policy's differentiable command")
            return pgd_command(clean, self.eps, scores, steps=self.pgd_steps)
        if scores is None or not actions:
            raise ValueError("pgd needs the policy's differentiable scores and the action list")
        if clean_action is None:
            with torch.no_grad():
                clean_action = list(actions)[int(scores(clean.unsqueeze(0))[0].argmax())]
        targets = attack_targets(actions, clean_action, safe_action, self.pgd_aim)
        return pgd(clean, self.eps, scores, targets, steps=self.pgd_steps)
