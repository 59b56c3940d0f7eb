"""Sample planning (the "scaling law" users need): expected radius against n, and the n a radius needs.

For sigma, alpha, an oracle error eps and an assumed true p_A of the action, a fixed-n certificate's
radius is sigma * Phi^-1(LCB(k, n, alpha) - eps) with k ~ Binomial(n, p_A); its expectation grows with
n towards the ceiling sigma * Phi^-1(p_A - eps), which no number of samples can pass.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from scipy.stats import beta as _beta
from scipy.stats import binom as _binom
from scipy.stats import norm as _norm

from .bounds import check_parameters, radius_from_lower_bound, smallest_n_where

def expected_radius(n: int, *, sigma: float, alpha: float, p_true: float, oracle_error: float = 0.0) -> float:
    """Expected certified radius of a fixed-n certificate when the candidate's true probability is p_true.

    E_k[sigma * Phi^-1(LCB(k, n, alpha) - eps)] with k ~ Binomial(n, p_true), abstentions counting 0.
    """
    if n <= 0:
        raise ValueError(f"n must be > 0, got {n}")
    if not 0.0 <= p_true <= 1.0:
        raise ValueError(f"p_true must be in [0, 1], got {p_true}")
    check_parameters(sigma, alpha, oracle_error)
    ks = np.arange(n + 1)
    weights = _binom.pmf(ks, n, p_true)
    keep = weights > 1e-12
    ks = ks[keep]
    lower = np.zeros(ks.shape)
    lower[ks > 0] = _beta.ppf(alpha, ks[ks > 0], n - ks[ks > 0] + 1)
    lower -= oracle_error
    radii = np.where(lower > 0.5, sigma * _norm.ppf(np.clip(lower, 0.5, 1.0 - 1e-16)), 0.0)
    return float(np.sum(weights[keep] * radii) / np.sum(weights[keep]))


def radius_ceiling(*, sigma: float, p_true: float, oracle_error: float = 0.0) -> float:
    """The radius no number of samples can exceed: sigma * Phi^-1(p_true - eps) (0 at or below 1/2)."""
    return radius_from_lower_bound(p_true - oracle_error, sigma)


def samples_needed(
    radius: float, *, sigma: float, alpha: float, p_true: float, oracle_error: float = 0.0, n_limit: int = 10_000_000
) -> Optional[int]:
    """Smallest n whose expected radius reaches ``radius`` (None when no n up to ``n_limit`` does).

    The radius can never exceed sigma * Phi^-1(p_true - eps), whatever n, so targets above that
    return None at once.
    """
    if radius >= radius_ceiling(sigma=sigma, p_true=p_true, oracle_error=oracle_error):
        return None

    def reaches(n: int) -> bool:
        return expected_radius(n, sigma=sigma, alpha=alpha, p_true=p_true, oracle_error=oracle_error) >= radius

    # Expected radius is close to monotone in n; bisection finds the first n that reaches.
    return smallest_n_where(reaches, n_limit)
