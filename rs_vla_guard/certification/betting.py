"""The betting test (default ``certify_mode: betting``): an e-process for p_A >= p*, valid at every sample.

Guarantee: for a null value m, K_n(m) = sum_g w_g prod_{i<=n} (1 + lambda_g (X_i - m)) with
X_i = 1[f(x + e_i) = c], constant bets lambda_g in [0, 1/m] and weights summing to 1 is a nonnegative
supermartingale with K_0 = 1 whenever P(X = 1) <= m. By Ville's inequality P(sup_n K_n(m) >= 1/alpha)
<= alpha, so "K_n(p*) >= 1/alpha at some look" certifies p_A >= p* with error <= alpha, however many looks
are taken and whenever the test stops: looks cost nothing, and the batch size changes only how far a
decision overshoots its stopping sample, never the evidence.

Writing lambda = (q - m) / (m (1 - m)), a bet is the likelihood ratio of Bernoulli(q) to Bernoulli(m)
(q in [m, 1]): k successes in n give (q/m)^k ((1 - q)/(1 - m))^(n - k), so K depends on (k, n) only. The
bets: weight ``UNANIMOUS_WEIGHT`` on q = 1 (everything on unanimity: the fewest samples when every sample
agrees) and the rest spread over q = m + (1 - m) t with t on a midpoint grid weighted by a Beta(1.5, 1)
density (the mixture that adapts to any p_A above m). Those two numbers were chosen by simulation to keep
the mean sample count within 9% of the best of a family of betting tests at every p_A in 0.9-1 (at alpha
0.001, radius 0.25 and 0.5; ``docs/theory.md`` section 3 has the table).

The lower confidence bound reported is the confidence sequence's: L_n = inf{m: K_n(m) < 1/alpha} (K is
decreasing in m, so bisection finds it). Futility uses the mirrored e-process (bets on q = m (1 - t)
below m) for p_A <= m, whose confidence sequence gives the upper bound U_n.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np

from .bounds import check_parameters, oracle_corrected, probability_for_radius
from .core import (ABSTAIN, BELOW_THRESHOLD, OUT_OF_TIME, Certificate, Sampler, check_test_arguments, count_labels,
                   draw, finish, hypotheses_of, majority, reported_hypothesis)

UNANIMOUS_WEIGHT = 0.5
PRIOR_SHAPE = 1.5
PRIOR_POINTS = 48
# Looks: every 12.5% more samples (at least 16) after the first look that could certify. The e-process is
# valid at any sample, so a look costs only a forward pass cut short, and on a CPU a batch of 16 costs about
# what 16 samples of a batch of 64 do; before it, futility-only looks at 64, 128, ...
LOOK_GROWTH = 0.125
MIN_LOOK_STEP = 16
FUTILITY_FIRST_LOOK = 64
# Futility projects the remaining samples at the upper confidence bound plus this many standard deviations.
FUTILITY_SIGMAS = 3.0

_T = (np.arange(PRIOR_POINTS) + 0.5) / PRIOR_POINTS
_PRIOR = _T ** (PRIOR_SHAPE - 1.0)
_LOG_W = np.log((1.0 - UNANIMOUS_WEIGHT) * _PRIOR / _PRIOR.sum())
_LOG_W_MIRROR = np.log(_PRIOR / _PRIOR.sum())
_LOG_1_MINUS_T = np.log1p(-_T)


def _logsumexp(terms: np.ndarray) -> np.ndarray:
    """log(sum(exp(terms))) over the last axis, with numpy alone (scipy's costs ~100 us a call in overhead,
    and the bounds below call it thousands of times per border decision)."""
    top = np.max(terms, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return (top + np.log(np.sum(np.exp(terms - top), axis=-1, keepdims=True)))[..., 0]


def log_evalues(k: int, n: int, m: np.ndarray) -> np.ndarray:
    """log K_n(m) for an array of nulls m (see :func:`log_evalue`): +inf where m <= 0, -inf where m >= 1."""
    m = np.asarray(m, dtype=np.float64)
    if n == 0:
        return np.zeros(m.shape)
    inside = (m > 0.0) & (m < 1.0)
    safe = np.where(inside, m, 0.5)[..., None]
    terms = _LOG_W + k * np.log1p(_T * (1.0 - safe) / safe) + (n - k) * _LOG_1_MINUS_T
    if k == n:
        terms = np.concatenate([terms, math.log(UNANIMOUS_WEIGHT) - n * np.log(safe)], axis=-1)
    return np.where(inside, _logsumexp(terms), np.where(m <= 0.0, math.inf, -math.inf))


def log_evalues_below(k: int, n: int, m: np.ndarray) -> np.ndarray:
    """The mirrored e-process of :func:`log_evalue_below` for an array of nulls m."""
    m = np.asarray(m, dtype=np.float64)
    if n == 0:
        return np.zeros(m.shape)
    inside = (m > 0.0) & (m < 1.0)
    safe = np.where(inside, m, 0.5)[..., None]
    terms = _LOG_W_MIRROR + k * _LOG_1_MINUS_T + (n - k) * np.log1p(_T * safe / (1.0 - safe))
    return np.where(inside, _logsumexp(terms), -math.inf)


@functools.lru_cache(maxsize=1 << 16)
def log_evalue(k: int, n: int, m: float) -> float:
    """log K_n(m): the betting evidence against p_A <= m after k of n samples agreed (0 at n = 0)."""
    return float(log_evalues(k, n, np.float64(m)))


@functools.lru_cache(maxsize=1 << 16)
def log_evalue_below(k: int, n: int, m: float) -> float:
    """log of the mirrored e-process: evidence against p_A >= m after k of n samples agreed."""
    if m >= 1.0:
        return 0.0 if n == 0 else -math.inf
    return float(log_evalues_below(k, n, np.float64(m)))


# The boundary search: each round evaluates the e-process on a grid of GRID_POINTS nulls at once and keeps
# the cell where it crosses the level; GRID_ROUNDS rounds narrow [0, 1] to 31^-8 (~1e-12), as fine as a
# 40-step bisection, in 8 vectorised evaluations instead of 60 scalar ones.
GRID_POINTS = 32
GRID_ROUNDS = 8


def _boundary(inside: Callable[[np.ndarray], np.ndarray], low: float, high: float) -> float:
    """The boundary between ``inside`` (true at ``low``, and monotone: true, then false) and outside (at
    ``high``), as the last grid point found inside: never a point outside."""
    for _ in range(GRID_ROUNDS):
        grid = np.linspace(low, high, GRID_POINTS)
        found = np.flatnonzero(inside(grid))
        last = int(found[-1]) if found.size else 0
        if last == GRID_POINTS - 1:
            return float(grid[-1])
        low, high = float(grid[last]), float(grid[last + 1])
    return low


# Both bounds are pure functions of (k, n, alpha): cached, a decision that repeats a count costs nothing.
@functools.lru_cache(maxsize=1 << 16)
def lower_bound(k: int, n: int, alpha: float) -> float:
    """The (1 - alpha) confidence sequence's lower bound on p_A: the largest m that K_n(m) >= 1/alpha rejects."""
    level = math.log(1.0 / alpha)
    if n == 0 or k == 0 or log_evalue(k, n, 1e-12) < level:
        return 0.0
    return _boundary(lambda m: log_evalues(k, n, m) >= level, 1e-12, 1.0)


@functools.lru_cache(maxsize=1 << 16)
def upper_bound(k: int, n: int, alpha: float) -> float:
    """The (1 - alpha) confidence sequence's upper bound on p_A (from the mirrored e-process)."""
    level = math.log(1.0 / alpha)
    if n == 0 or k == n or log_evalue_below(k, n, 1.0 - 1e-12) < level:
        return 1.0
    return 1.0 - _boundary(lambda r: log_evalues_below(k, n, 1.0 - r) >= level, 1e-12, 1.0)


def null_for(p_star: float, oracle_error: float, symmetric_oracle: bool) -> float:
    """The agreement rate m to test against: the oracle-labelled rate whose corrected bound is p*."""
    if symmetric_oracle:
        return p_star * (1.0 - 2.0 * oracle_error) + oracle_error
    return p_star + oracle_error


def first_look(*, sigma: float, alpha: float, radius_threshold: float, n_max: int, oracle_error: float = 0.0,
               symmetric_oracle: bool = False) -> Optional[int]:
    """The fewest samples with which unanimous agreement certifies (None when not even ``n_max`` do): the
    size of a decision's first batch, since no smaller sample could decide."""
    check_parameters(sigma, alpha, oracle_error)
    m = null_for(max(probability_for_radius(radius_threshold, sigma), 0.5), oracle_error, symmetric_oracle)
    level = math.log(1.0 / alpha)
    if m >= 1.0 or log_evalue(n_max, n_max, m) < level:
        return None
    low, high = 1, n_max
    while low < high:
        middle = (low + high) // 2
        if log_evalue(middle, middle, m) >= level:
            high = middle
        else:
            low = middle + 1
    return low


def decision_first_look(*, sigma: float, alpha: float, radius_threshold: float, n_max: int, oracle_error: float = 0.0,
                        symmetric_oracle: bool = False, hypotheses: int = 1) -> Optional[int]:
    """The first look :func:`certify_betting` takes with ``hypotheses`` (the candidate and its fallback
    sets): where unanimous samples certify at alpha / hypotheses, else at alpha (the candidate alone)."""
    common = dict(sigma=sigma, radius_threshold=radius_threshold, n_max=n_max, oracle_error=oracle_error,
                  symmetric_oracle=symmetric_oracle)
    first = first_look(alpha=alpha / hypotheses, **common)
    return first if first is not None else first_look(alpha=alpha, **common)


def look_schedule(first: int, n_max: int) -> List[int]:
    """The sample counts at which the betting test looks, from the first look that could certify
    (``first``): futility-only looks at 64, 128, ... below it, then +12.5% (at least 16) per look up to ``n_max``. The
    schedule does not depend on the batch size; batches are cut to end at the looks."""
    looks = []
    n = FUTILITY_FIRST_LOOK
    while n < min(first, n_max):
        looks.append(n)
        n *= 2
    n = min(first, n_max)
    while True:
        looks.append(n)
        if n >= n_max:
            return looks
        n = min(n_max, n + max(MIN_LOOK_STEP, int(math.ceil(n * LOOK_GROWTH))))


def _futile(k: int, n: int, n_max: int, m: float, share: float) -> bool:
    """Has certifying by ``n_max`` become impossible (every remaining sample agreeing would not do) or very
    unlikely (the remaining samples would have to agree more often than the upper confidence bound plus
    ``FUTILITY_SIGMAS`` standard deviations)? Stopping then only removes chances to certify."""
    level = math.log(1.0 / share)
    remaining = n_max - n
    if log_evalue(k + remaining, n_max, m) < level:
        return True
    if n == 0:
        return False
    rate = upper_bound(k, n, share)
    projected = remaining * rate + FUTILITY_SIGMAS * math.sqrt(remaining * rate * (1.0 - rate))
    return log_evalue(k + min(remaining, int(math.ceil(projected))), n_max, m) < level


Candidate = Union[None, int, Callable[[], Optional[int]]]


def certify_betting(
    sample: Sampler,
    *,
    sigma: float,
    alpha: float,
    radius_threshold: float,
    n_max: int,
    batch_size: int,
    oracle_error: float = 0.0,
    candidate: Candidate = None,
    n0: int = 16,
    symmetric_oracle: bool = False,
    out_of_time: Optional[Callable[[], bool]] = None,
    fallbacks: Sequence[Iterable[int]] = (),
    stop_when_hopeless: bool = True,
) -> Certificate:
    """Anytime-valid test of R >= ``radius_threshold`` (p_A >= p* = Phi(radius_threshold / sigma)) by betting.

    Looks at the sample counts of :func:`look_schedule` (the first that could certify is :func:`first_look`),
    drawing batches of at most ``batch_size`` cut to end at each look: it certifies as soon as K_n(m) >= h / alpha for the
    candidate (m = p* raised by the oracle correction, h hypotheses), and stops without a certificate
    when the mirrored e-process rules p_A >= m out, or (``stop_when_hopeless``) when certifying by
    ``n_max`` has become impossible or very unlikely (before drawing anything when even unanimous
    samples could not certify by ``n_max``). Otherwise it stops at ``n_max``. The reported p_lower is
    the confidence sequence's lower bound at the stopping sample, corrected for the oracle error.

    ``candidate``: a class index chosen without the estimation samples, or a callable asked after the
    first draw (the guard labels the clean frame in the first batch); when it gives None, that first
    draw selects the majority class instead and is not reused (``n0`` separate samples when
    ``candidate`` is None from the start). ``fallbacks`` and ``out_of_time`` behave as in
    :func:`~.gaussian.certify_sequential`.
    """
    check_test_arguments(sigma, alpha, oracle_error, radius_threshold, n_max, batch_size)
    p_star = max(probability_for_radius(radius_threshold, sigma), 0.5)
    m = null_for(p_star, oracle_error, symmetric_oracle)
    first = decision_first_look(sigma=sigma, alpha=alpha, radius_threshold=radius_threshold, n_max=n_max,
                                oracle_error=oracle_error, symmetric_oracle=symmetric_oracle,
                                hypotheses=1 + len(list(fallbacks)))
    if first is None and stop_when_hopeless:  # not even n_max unanimous samples could certify: draw nothing
        chosen = candidate if isinstance(candidate, int) else None
        return Certificate(chosen, False, 0.0, 0.0, 0, {}, BELOW_THRESHOLD, 1.0, 0)
    first = first or n_max
    counts: Dict[int, int] = {}
    n_selection = 0
    if candidate is None:
        selection: Dict[int, int] = {}
        count_labels(draw(sample, n0), selection)
        n_selection = n0
        candidate = majority(selection)
        if candidate is None:
            return Certificate(None, False, 0.0, 0.0, n0, selection, ABSTAIN, checkpoints=0)
    schedule = look_schedule(first, n_max)
    n = 0
    looks = 0
    hypotheses = None
    while n < n_max:
        target = schedule[looks]
        while n < target:
            if out_of_time is not None and out_of_time():
                return Certificate(candidate if isinstance(candidate, int) else None, False, 0.0, 0.0,
                                   n + n_selection, counts, OUT_OF_TIME, 1.0, looks)
            size = min(batch_size, target - n)
            count_labels(draw(sample, size), counts)
            n += size
        looks += 1
        if callable(candidate):
            candidate = candidate()
            if candidate is None:  # the first draw selects; estimation starts afresh
                candidate = majority(counts)
                n_selection, n, counts, looks = n, 0, {}, 0
                if candidate is None:
                    return Certificate(None, False, 0.0, 0.0, n_selection, {}, ABSTAIN, checkpoints=looks)
                continue
        if hypotheses is None:
            hypotheses = hypotheses_of(candidate, fallbacks)
            share = alpha / len(hypotheses)
            level = math.log(1.0 / share)
        ks = [sum(counts.get(c, 0) for c in h) for h in hypotheses]
        evidence = [log_evalue(k, n, m) >= level for k in ks]
        ruled_out = [log_evalue_below(k, n, m) >= level for k in ks]
        if evidence[0]:
            break
        if stop_when_hopeless and all(ruled_out[h] or _futile(ks[h], n, n_max, m, share)
                                      for h in range(len(ks))):
            break
        if ruled_out[0] and all(evidence[h] or ruled_out[h] for h in range(1, len(ks))):
            break
    if hypotheses is None:  # n_max reached inside the selection draw
        return Certificate(candidate, False, 0.0, 0.0, n_selection, {}, BELOW_THRESHOLD, checkpoints=looks)
    lowers = [oracle_corrected(lower_bound(k, n, share), oracle_error, symmetric_oracle) if n else 0.0 for k in ks]
    for h, passed in enumerate(evidence):
        if passed:  # the bisection's last inside point can sit a hair below m; the evidence itself decided
            lowers[h] = max(lowers[h], p_star if p_star > 0.5 else math.nextafter(0.5, 1.0))
    uppers = [min(upper_bound(k, n, share) + oracle_error, 1.0) if n else 1.0 for k in ks]
    h = reported_hypothesis(lowers, p_star)
    return finish(candidate, int(ks[h]), n, n + n_selection, counts, lowers[h], sigma, radius_threshold,
                   uppers[h], looks, fallback=hypotheses[h] if h else None)
