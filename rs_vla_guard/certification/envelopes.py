"""Certified envelopes for continuous outputs: percentile smoothing (Chiang et al., NeurIPS 2020).

A class certificate says which action class a perturbation cannot change; it says nothing about how
fast the robot moves inside the class. Percentile smoothing bounds each output dimension itself.

For one output dimension y = f(x + e), e ~ N(0, sigma^2 I), let h_p(x) be the p-th percentile of y (the
smoothed median at p = 1/2; ``h_p = inf{t : P(y <= t) >= p}``). For every ||delta||_2 <= R:

    h_{p-}(x) <= h_p(x + delta) <= h_{p+}(x),     p+- = Phi(Phi^-1(p) +- R / sigma).

**Guarantee.** From n noisy samples, the order statistics ``y_(k_lo) <= h_{p-}(x)`` and
``y_(k_hi) >= h_{p+}(x)`` each hold with probability >= 1 - a/2 when k_lo is the largest k with
P(Binomial(n, p-) >= k) >= 1 - a/2 and k_hi the smallest k with P(Binomial(n, p+) <= k - 1) >= 1 - a/2
(distribution-free; ties and discrete outputs only make it more conservative). So, with probability at
least 1 - a, no perturbation of L2 norm <= R moves the smoothed percentile h_p outside
[y_(k_lo), y_(k_hi)]. Over D dimensions (and a class hypothesis, when one is tested too) ``alpha`` is
split evenly (Bonferroni). When n is too small for an order statistic, that side is infinite.

numpy/scipy only, like the rest of :mod:`rs_vla_guard.certification`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
from scipy.stats import binom as _binom
from scipy.stats import norm as _norm

from .bounds import smallest_n_where


@dataclass(frozen=True)
class Envelope:
    """The certified interval of one output dimension at ``radius``: with the certificate's confidence, the
    smoothed percentile stays in [low, high] under every perturbation of L2 norm <= radius."""
    name: str
    low: float
    high: float
    median: float  # the empirical percentile of the samples (what ``continuous_command: median`` executes)
    radius: float

    @property
    def width(self) -> float:
        return float(self.high - self.low)

    def clamp(self, value: float) -> float:
        return float(min(max(value, self.low), self.high))


def shifted_percentiles(radius: float, sigma: float, percentile: float = 0.5) -> Tuple[float, float]:
    """(p-, p+) = Phi(Phi^-1(p) -+ R / sigma)."""
    if radius < 0 or sigma <= 0 or not 0.0 < percentile < 1.0:
        raise ValueError("need radius >= 0, sigma > 0 and 0 < percentile < 1")
    centre = _norm.ppf(percentile)
    return float(_norm.cdf(centre - radius / sigma)), float(_norm.cdf(centre + radius / sigma))


def order_statistic_indices(n: int, radius: float, sigma: float, alpha: float, percentile: float = 0.5
                            ) -> Tuple[Optional[int], Optional[int]]:
    """1-based (k_lo, k_hi) of the bounding order statistics for n samples at two-sided confidence
    1 - alpha (alpha/2 per side); None for a side n cannot bound."""
    if n <= 0:
        raise ValueError(f"n must be > 0, got {n}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    p_low, p_high = shifted_percentiles(radius, sigma, percentile)
    side = alpha / 2.0
    # lower: the largest k with P(Bin(n, p-) >= k) >= 1 - side, i.e. the largest j = k - 1 with cdf(j) <= side
    j = int(_binom.ppf(side, n, p_low))
    while j >= 0 and _binom.cdf(j, n, p_low) > side:
        j -= 1
    while j + 1 <= n - 1 and _binom.cdf(j + 1, n, p_low) <= side:
        j += 1
    k_lo = j + 1 if j >= 0 else None
    # upper: the smallest k with P(Bin(n, p+) <= k - 1) >= 1 - side
    j = int(_binom.ppf(1.0 - side, n, p_high))
    while j < n and _binom.cdf(j, n, p_high) < 1.0 - side:
        j += 1
    while j > 0 and _binom.cdf(j - 1, n, p_high) >= 1.0 - side:
        j -= 1
    k_hi = j + 1 if j + 1 <= n else None
    return k_lo, k_hi


def certify_envelopes(samples, radius: float, sigma: float, alpha: float, names: Optional[Sequence[str]] = None,
                      percentile: float = 0.5, hypotheses: int = 0) -> List[Envelope]:
    """Certified envelopes of every column of ``samples`` (n x D noisy outputs) at ``radius``.

    ``alpha`` is split over the D dimensions and ``hypotheses`` further tests run on the same samples
    (e.g. 1 when the class is certified too). Non-finite samples count as unbounded on both sides (a
    NaN can be anything), so they can only widen an envelope."""
    values = np.asarray(samples, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    n, dims = values.shape
    names = list(names) if names is not None else [f"dim_{i}" for i in range(dims)]
    if len(names) != dims:
        raise ValueError(f"{len(names)} names for {dims} dimensions")
    share = alpha / (dims + max(0, int(hypotheses)))
    k_lo, k_hi = order_statistic_indices(n, radius, sigma, share, percentile)
    envelopes = []
    for column, name in zip(values.T, names):
        finite = np.isfinite(column)
        # a non-finite sample could be anywhere: as -inf for the lower bound, +inf for the upper
        lows = np.sort(np.where(finite, column, -np.inf))
        highs = np.sort(np.where(finite, column, np.inf))
        low = float(lows[k_lo - 1]) if k_lo is not None else -np.inf
        high = float(highs[k_hi - 1]) if k_hi is not None else np.inf
        median = float(np.quantile(column[finite], percentile, method="inverted_cdf")) if finite.any() else float("nan")
        envelopes.append(Envelope(name, low, high, median, float(radius)))
    return envelopes


def expected_gaussian_width(n: int, *, radius: float, sigma: float, alpha: float, output_std: float,
                            dimensions: int = 1) -> float:
    """The envelope width to expect for outputs ~ Normal(mu, output_std^2) (a planning approximation: the
    bounding order statistics at their expected quantiles). Infinite when n cannot bound both sides."""
    k_lo, k_hi = order_statistic_indices(n, radius, sigma, alpha / dimensions)
    if k_lo is None or k_hi is None:
        return float("inf")
    quantile = lambda k: _norm.ppf(k / (n + 1.0))  # noqa: E731  (expected position of the k-th of n)
    return float(output_std * (quantile(k_hi) - quantile(k_lo)))


def envelope_width_floor(*, radius: float, sigma: float, output_std: float) -> float:
    """The width no number of samples can go below for Normal outputs: output_std * 2R / sigma."""
    return float(output_std * 2.0 * radius / sigma)


def samples_for_envelope(width: float, *, radius: float, sigma: float, alpha: float, output_std: float,
                         dimensions: int = 1, n_limit: int = 10_000_000) -> Optional[int]:
    """Smallest n whose expected Gaussian envelope is at most ``width`` wide (None when none up to
    ``n_limit`` is: the floor output_std * 2R / sigma cannot be passed)."""
    if width <= envelope_width_floor(radius=radius, sigma=sigma, output_std=output_std):
        return None

    def narrow_enough(n: int) -> bool:
        return expected_gaussian_width(n, radius=radius, sigma=sigma, alpha=alpha, output_std=output_std,
                                       dimensions=dimensions) <= width

    return smallest_n_where(narrow_enough, n_limit)
