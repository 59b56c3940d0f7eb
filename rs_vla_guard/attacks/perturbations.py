"""Perturbations of a policy input inside an L2 budget ``eps``, measured where the certificate lives:
the policy's input pixels (3 x H x W in [0, 1] after resizing).

Every attack returns the perturbed policy input as an RGB uint8 frame of the policy's size (what the
attack node publishes; the guard then sees exactly those pixels, no resize), and the achieved L2
distance to the clean input *after* rounding to uint8, which never exceeds ``eps``: rounding is
part of the budget, so a certificate's guarantee can be checked against the real distance.

- ``noise``: a random direction of length eps;
- ``patch``: a grey square over the image centre, as opaque as the budget allows;
- ``pgd`` aimed at a chunk (:func:`pgd_away`): the executed waypoint that moves most pushed as far from its
  clean value as the budget allows;
- ``pgd``: projected gradient ascent on the base policy's log-likelihood margin of a wrong motion over
  every other action (L2 steps, projection onto the eps-ball and [0, 1]); it aims at any wrong motion
  (the nearest one, the strongest attack) or at the most harmful one (the opposite turn, or moving
  when the policy would stop).
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple

import numpy as np
import torch


def to_frame(pixels: torch.Tensor) -> np.ndarray:
    """3 x H x W in [0, 1] -> H x W x 3 uint8 (round to nearest)."""
    return (pixels.detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy())


def _fit_budget(clean: torch.Tensor, perturbed: torch.Tensor, eps: float) -> Tuple[np.ndarray, float]:
    """The uint8 frame closest in spirit to ``perturbed`` whose distance to ``clean`` is <= eps.

    Shrinks the perturbation until the rounded frame fits; rounding alone (about 0.13 for 64x64x3) must
    already fit, so eps below that can only return the rounded clean frame.
    """
    delta = perturbed - clean
    for scale in np.linspace(1.0, 0.0, 41):
        frame = to_frame(clean + float(scale) * delta)
        distance = float((torch.from_numpy(frame).permute(2, 0, 1).float() / 255 - clean.cpu()).norm())
        if distance <= eps:
            return frame, distance
    frame = to_frame(clean)
    return frame, float((torch.from_numpy(frame).permute(2, 0, 1).float() / 255 - clean.cpu()).norm())


def rounding_floor(clean: torch.Tensor) -> float:
    """L2 distance that rounding the clean input to uint8 costs by itself."""
    return float((torch.from_numpy(to_frame(clean)).permute(2, 0, 1).float() / 255 - clean.cpu()).norm())


def noise(clean: torch.Tensor, eps: float, generator: torch.Generator) -> Tuple[np.ndarray, float]:
    direction = torch.randn(clean.shape, generator=generator, device=clean.device)
    return _fit_budget(clean, clean + eps * direction / direction.norm(), eps)


def patch(clean: torch.Tensor, eps: float, grey: float = 0.5, side: float = 0.4) -> Tuple[np.ndarray, float]:
    """A grey square (``side`` of the image) over the centre, as opaque as the budget allows.

    A fully opaque patch costs far more than a typical certified radius (one pixel of a saturated block
    turned grey is ~0.6 of L2 alone), so within small budgets the patch is translucent.
    """
    _, height, width = clean.shape
    rows = slice(int(height * (1 - side) / 2), int(height * (1 + side) / 2))
    cols = slice(int(width * (1 - side) / 2), int(width * (1 + side) / 2))
    covered = clean.clone()
    covered[:, rows, cols] = grey
    full = float((covered - clean).norm())
    opacity = 1.0 if full <= eps else eps / full
    return _fit_budget(clean, clean + opacity * (covered - clean), eps)


def _ascend(clean: torch.Tensor, delta: torch.Tensor, gradient: torch.Tensor, eps: float, step_size: float) -> None:
    """One L2 PGD step on ``delta`` in place: along the normalised gradient, back onto the eps ball, and
    inside [0, 1] around ``clean``."""
    with torch.no_grad():
        delta += step_size * gradient / (gradient.norm() + 1e-12)
        norm = delta.norm()
        if norm > eps:
            delta *= eps / norm
        delta.copy_((clean + delta).clamp(0, 1) - clean)


def pgd_command(clean: torch.Tensor, eps: float, command: Callable[[torch.Tensor], torch.Tensor], steps: int = 20,
                step_size: Optional[float] = None) -> Tuple[np.ndarray, float]:
    """L2 PGD on a continuous command: move ``command`` (B inputs -> B values, differentiable; e.g. the
    expected yaw rate) as far as possible from its value on the clean input, in the direction away from
    zero's side it is on (a left turn pushed right, anything else pushed left), within eps and [0, 1]."""
    step_size = step_size or 2.5 * eps / steps
    with torch.no_grad():
        start = float(command(clean.unsqueeze(0))[0])
    direction = -1.0 if start > 0 else 1.0
    delta = torch.zeros_like(clean, requires_grad=True)
    for _ in range(steps):
        (gradient,) = torch.autograd.grad(direction * command((clean + delta).unsqueeze(0))[0], delta)
        _ascend(clean, delta, gradient, eps, step_size)
    return _fit_budget(clean, clean + delta.detach(), eps)


SOFT_MAX_SHARPNESS = 20.0  # per unit of the outputs (rad): the soft maximum is within log(K D) / 20 of the maximum


def pgd_away(clean: torch.Tensor, eps: float, outputs: Callable[[torch.Tensor], torch.Tensor], steps: int = 20,
             generator: Optional[torch.Generator] = None) -> Tuple[np.ndarray, float]:
    """L2 PGD moving ``outputs`` (B inputs -> B x ..., differentiable; e.g. a chunk's executed waypoints) as
    far as it can from its value on the clean input, within eps and [0, 1]: it ascends a soft maximum of the
    coordinates' moves, from a small random start (a move has no gradient at zero)."""
    step_size = 2.5 * eps / steps
    with torch.no_grad():
        start = outputs(clean.unsqueeze(0))[0]
    direction = torch.randn(clean.shape, generator=generator, device=clean.device) if generator is not None \
        else torch.randn_like(clean)
    delta = (0.1 * eps * direction / direction.norm()).requires_grad_(True)
    for _ in range(steps):
        # a soft maximum of the coordinates' moves: one waypoint pushed far is what leaves a tube
        moved = (outputs((clean + delta).unsqueeze(0))[0] - start).abs().flatten()
        distance = torch.logsumexp(SOFT_MAX_SHARPNESS * moved, dim=0) / SOFT_MAX_SHARPNESS
        (gradient,) = torch.autograd.grad(distance, delta)
        _ascend(clean, delta, gradient, eps, step_size)
    return _fit_budget(clean, clean + delta.detach(), eps)


def pgd(clean: torch.Tensor, eps: float, log_likelihoods: Callable[[torch.Tensor], torch.Tensor],
        targets: Sequence[int], steps: int = 20, step_size: Optional[float] = None) -> Tuple[np.ndarray, float]:
    """Targeted L2 PGD: raise the base policy's log-likelihood of the best of the actions ``targets``
    (B x C scores from ``log_likelihoods``) above every other action, staying within eps of ``clean`` and
    inside [0, 1]. With one target this aims at that action; with all wrong motions it aims at whichever
    is nearest (the strongest attack on a given frame)."""
    step_size = step_size or 2.5 * eps / steps
    targets = torch.as_tensor(list(targets), device=clean.device)
    delta = torch.zeros_like(clean, requires_grad=True)
    for _ in range(steps):
        scores = log_likelihoods((clean + delta).unsqueeze(0))[0]
        is_target = torch.zeros_like(scores, dtype=torch.bool)
        is_target[targets] = True
        margin = scores[is_target].max() - scores[~is_target].max()
        (gradient,) = torch.autograd.grad(margin, delta)
        _ascend(clean, delta, gradient, eps, step_size)
    return _fit_budget(clean, clean + delta.detach(), eps)
