"""Binomial confidence bounds, the Gaussian-L2 radius and the oracle-error correction (numpy/scipy only).

Everything here is a pure function of counts and parameters: the certificates in :mod:`.gaussian` and
the planner in :mod:`.planning` are built from these few formulas.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Optional

from scipy.stats import beta as _beta
from scipy.stats import norm as _norm


# The bounds are pure functions of (k, n, alpha), and a sequential test asks the same few again and again
# (each look, each hypothesis, every decision): cached, a decision's statistics cost microseconds.
@functools.lru_cache(maxsize=1 << 16)
def lower_confidence_bound(k: int, n: int, alpha: float) -> float:
    """One-sided (1 - alpha) Clopper-Pearson lower bound on p from k successes in n trials.

    ``Beta.ppf(alpha; k, n - k + 1)``, and 0 when k = 0.
    """
    check_counts(k, n, alpha)
    if k == 0:
        return 0.0
    return float(_beta.ppf(alpha, k, n - k + 1))


@functools.lru_cache(maxsize=1 << 16)
def upper_confidence_bound(k: int, n: int, alpha: float) -> float:
    """One-sided (1 - alpha) Clopper-Pearson upper bound: ``Beta.ppf(1 - alpha; k + 1, n - k)``, 1 when k = n."""
    check_counts(k, n, alpha)
    if k == n:
        return 1.0
    return float(_beta.ppf(1.0 - alpha, k + 1, n - k))


def check_counts(k: int, n: int, alpha: float) -> None:
    if n <= 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def radius_from_lower_bound(p_lower: float, sigma: float) -> float:
    """Certified L2 radius ``sigma * Phi^-1(p_lower)``; 0.0 when p_lower <= 0.5 (abstain)."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    if p_lower <= 0.5:
        return 0.0
    if p_lower >= 1.0:
        return math.inf
    return float(sigma * _norm.ppf(p_lower))


def probability_for_radius(radius: float, sigma: float) -> float:
    """The inverse of :func:`radius_from_lower_bound`: p* = Phi(radius / sigma)."""
    return float(_norm.cdf(radius / sigma))


def oracle_corrected(p_lower: float, oracle_error: float, symmetric: bool = False) -> float:
    """Lower bound on the true class probability from the oracle-labelled bound ``p_lower``.

    Valid with no assumption: ``p_lower - eps`` (each oracle label is wrong with probability at most
    eps, so the true probability is at least the labelled one minus eps). With ``symmetric=True``
    (oracle mistakes are symmetric label flips, an assumption the caller takes on):
    ``(p_lower - eps) / (1 - 2 eps)``. Never below 0.
    """
    if not 0.0 <= oracle_error < 0.5:
        raise ValueError(f"oracle_error must be in [0, 0.5), got {oracle_error}")
    corrected = p_lower - oracle_error
    if symmetric:
        corrected /= 1.0 - 2.0 * oracle_error
    return float(min(max(corrected, 0.0), 1.0))


def check_parameters(sigma: float, alpha: float, oracle_error: float) -> None:
    """ValueError unless sigma > 0, 0 < alpha < 0.5 and 0 <= oracle_error < 0.5."""
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    if not 0.0 <= oracle_error < 0.5:
        raise ValueError(f"oracle_error must be in [0, 0.5), got {oracle_error}")


def smallest_n_where(holds: Callable[[int], bool], n_limit: int) -> Optional[int]:
    """The smallest n in [1, n_limit] for which ``holds(n)``, a predicate that stays true once true, is
    true (None when it is not even at ``n_limit``): doubling to bracket it, then bisection."""
    low, high = 1, 1
    while not holds(high):
        low, high = high + 1, high * 2
        if high > n_limit:
            if low > n_limit or not holds(n_limit):
                return None
            high = n_limit
            break
    while low < high:
        middle = (low + high) // 2
        if holds(middle):
            high = middle
        else:
            low = middle + 1
    return high
