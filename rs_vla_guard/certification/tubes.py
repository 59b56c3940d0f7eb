"""Certified chunk tubes (percentile smoothing over every executed coordinate of an action chunk).

A manipulation policy outputs a chunk a(x) in R^{H x D} (H future steps of D joint positions) of which the
robot executes the first K <= H open-loop. For each executed coordinate (h, d) percentile smoothing
(:mod:`.envelopes`) bounds the smoothed median m_hd(x + delta) inside [L_hd, U_hd] for every
||delta||_2 <= R.

**Guarantee.** With ``alpha`` split evenly (Bonferroni) over the K * D coordinates and ``hypotheses``
further tests of the same decision, with probability >= 1 - alpha no image perturbation of L2 norm <= R
moves any executed waypoint of the smoothed median chunk outside its interval. The order-statistic
index moves only by O(sqrt(n log(K D / alpha))), so a tube over 10 x 7 coordinates costs little more
than one envelope. The executed chunk is ``clamp(median, L, U)``: within U - L of what the smoothed
policy commands on the unperturbed frame.

numpy/scipy only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .envelopes import certify_envelopes, samples_for_envelope


@dataclass(frozen=True)
class ChunkTube:
    """K x D certified intervals ``low``/``high`` and the empirical median chunk, at ``radius``."""
    joint_names: tuple
    low: np.ndarray
    high: np.ndarray
    median: np.ndarray
    radius: float

    @property
    def widths(self) -> np.ndarray:
        return self.high - self.low

    def clamp(self, chunk: np.ndarray) -> np.ndarray:
        return np.minimum(np.maximum(np.asarray(chunk, dtype=np.float64), self.low), self.high)


def certify_tube(samples, steps: int, radius: float, sigma: float, alpha: float,
                 joint_names: Optional[Sequence[str]] = None, hypotheses: int = 0) -> ChunkTube:
    """The tube of the first ``steps`` waypoints of ``samples`` (n x H x D noisy chunks) at ``radius``;
    ``alpha`` split over steps * D coordinates and ``hypotheses`` other tests."""
    values = np.asarray(samples, dtype=np.float64)
    if values.ndim != 3 or not 1 <= steps <= values.shape[1]:
        raise ValueError(f"need n x H x D chunks with H >= {steps}, got shape {values.shape}")
    n, _, dims = values.shape
    names = tuple(joint_names) if joint_names is not None else tuple(f"joint_{i}" for i in range(dims))
    if len(names) != dims:
        raise ValueError(f"{len(names)} joint names for {dims} dimensions")
    flat = values[:, :steps, :].reshape(n, steps * dims)
    envelopes = certify_envelopes(flat, radius, sigma, alpha, hypotheses=hypotheses)
    shape = (steps, dims)
    low = np.array([e.low for e in envelopes]).reshape(shape)
    high = np.array([e.high for e in envelopes]).reshape(shape)
    median = np.array([e.median for e in envelopes]).reshape(shape)
    return ChunkTube(names, low, high, median, float(radius))


def samples_for_tube(width: float, *, coordinates: int, radius: float, sigma: float, alpha: float,
                     output_std: float) -> Optional[int]:
    """Smallest n whose expected tube over ``coordinates`` (K * D) Gaussian outputs of ``output_std`` is at
    most ``width`` wide in every coordinate (None when none is: the floor output_std * 2R / sigma)."""
    return samples_for_envelope(width, radius=radius, sigma=sigma, alpha=alpha, output_std=output_std,
                                dimensions=coordinates)
