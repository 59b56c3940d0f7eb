"""The Gaussian-L2 certificate: Cohen's fixed two-stage CERTIFY and the anytime-valid sequential test.

Guarantee (Cohen, Rosenfeld, Kolter 2019, Theorem 1): let g(x) = argmax_c P(f(x + e) = c) with
e ~ N(0, sigma^2 I). If ``p_lower`` is a (1 - alpha) lower confidence bound on P(f(x + e) = c_hat) and
p_lower > 1/2, then with probability >= 1 - alpha over the sampling, g(x + d) = c_hat for every
||d||_2 < R = sigma * Phi^-1(p_lower).

Both tests consume a ``sample(m)`` callable that returns ``m`` class indices of the base classifier
f = oracle o policy on independently noised copies of the input (``-1`` = an output the oracle could
not map), and return a :class:`Certificate`.

Fallback sets: the same theorem holds for the binary classifier 1[f(x + e) in S] of any set S of
classes fixed before the estimation samples: if the lower bound on P(f(x + e) in S) exceeds 1/2, the
smoothed policy puts more than half its probability on S for every ||d||_2 < R. Testing the candidate
and m sets on the same samples splits alpha into m + 1 equal shares (union bound), so the chance that any
reported bound is false stays <= alpha.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Iterable, Optional, Sequence

import numpy as np

from .bounds import (check_parameters, lower_confidence_bound, oracle_corrected, probability_for_radius,
                     radius_from_lower_bound, smallest_n_where, upper_confidence_bound)
from .core import (ABSTAIN, BELOW_THRESHOLD, OUT_OF_TIME, Certificate, Sampler, check_test_arguments, count_in_each,
                   count_labels, draw, finish, hypotheses_of, passes, reported_hypothesis, select_candidate)

def certify_fixed(
    sample: Sampler,
    *,
    sigma: float,
    alpha: float,
    n0: int,
    n: int,
    oracle_error: float = 0.0,
    candidate: Optional[int] = None,
    radius_threshold: float = 0.0,
    symmetric_oracle: bool = False,
    fallbacks: Sequence[Iterable[int]] = (),
) -> Certificate:
    """Cohen's two-stage CERTIFY.

    Selection: the most frequent class of ``n0`` samples (skipped when ``candidate`` is given, which
    must then be chosen without looking at the estimation samples). Estimation: ``n`` fresh samples,
    k = count of the candidate, p_lower = LCB(k, n, alpha) - eps. Abstain when p_lower <= 0.5, else
    radius = sigma * Phi^-1(p_lower); certified when radius >= ``radius_threshold``.

    ``fallbacks``: sets of classes; those containing the candidate are tested on the same samples, each
    hypothesis at alpha / (number of hypotheses); a set is reported only if the candidate alone fails.
    """
    check_parameters(sigma, alpha, oracle_error)
    if n <= 0 or (candidate is None and n0 <= 0):
        raise ValueError(f"need n > 0 and n0 > 0 without a candidate, got n0={n0}, n={n}")
    n_selection = 0
    if candidate is None:
        candidate, n_selection = select_candidate(sample, n0), n0
    counts: Dict[int, int] = {}
    labels = draw(sample, n)
    count_labels(labels, counts)
    if candidate is None:
        return Certificate(None, False, 0.0, 0.0, n + n_selection, counts, ABSTAIN)
    hypotheses = hypotheses_of(candidate, fallbacks)
    share = alpha / len(hypotheses)
    ks = count_in_each(labels, hypotheses)
    lowers = [oracle_corrected(lower_confidence_bound(int(k), n, share), oracle_error, symmetric_oracle) for k in ks]
    h = reported_hypothesis(lowers, probability_for_radius(radius_threshold, sigma))
    return finish(candidate, int(ks[h]), n, n + n_selection, counts, lowers[h], sigma, radius_threshold,
                   fallback=hypotheses[h] if h else None)


def smallest_certifying_n(*, sigma: float, alpha: float, radius_threshold: float, oracle_error: float = 0.0,
                          symmetric_oracle: bool = False, certify_mode: str = "sequential",
                          n_limit: int = 10**9) -> Optional[int]:
    """The fewest estimation samples with which a unanimous count certifies ``radius_threshold``: at the
    sequential test's first look (level alpha_1), in fixed mode (level alpha) or by the betting e-process. A configuration whose
    ``n_max`` is below it can never certify; None when no number of samples up to ``n_limit`` can.

    Unanimous samples give p_lower = level^(1/n), which grows with n, so the answer is found by bisection.
    """
    check_parameters(sigma, alpha, oracle_error)
    if certify_mode == "betting":
        from .betting import first_look  # one direction only: betting imports .core, never this module
        return first_look(sigma=sigma, alpha=alpha, radius_threshold=radius_threshold, n_max=n_limit,
                          oracle_error=oracle_error, symmetric_oracle=symmetric_oracle)
    level = checkpoint_alpha(alpha, 1) if certify_mode == "sequential" else alpha
    p_star = probability_for_radius(radius_threshold, sigma)

    def certifies(n: int) -> bool:
        return passes(oracle_corrected(level ** (1.0 / n), oracle_error, symmetric_oracle), p_star)

    return smallest_n_where(certifies, n_limit)


def _reachable(k: int, n: int, look: int, schedule: Sequence[int], share: float, p_star: float,
               oracle_error: float, symmetric_oracle: bool) -> bool:
    """Could a hypothesis with k of n samples still certify at a look after ``look`` (1-based; 0 = before any),
    if every sample from now on agreed with it? If not, more samples cannot change the outcome."""
    # The last look usually has the best chance (most samples), so it is asked first.
    for later, n_later in reversed(list(enumerate(schedule[look:], start=look + 1))):
        best = k + n_later - n
        bound = lower_confidence_bound(int(best), int(n_later), checkpoint_alpha(share, later))
        if passes(oracle_corrected(bound, oracle_error, symmetric_oracle), p_star):
            return True
    return False


def checkpoint_alpha(alpha: float, j: int) -> float:
    """Error budget of the j-th look (j >= 1): alpha * 6 / (pi^2 j^2); the budgets sum to alpha."""
    return alpha * 6.0 / (math.pi**2 * j * j)


def sequential_schedule(
    *, sigma: float, alpha: float, radius_threshold: float, n_max: int, batch_size: int, oracle_error: float = 0.0
) -> list:
    """Sample sizes at which the sequential test looks, fixed before any sample is drawn.

    The first look comes at the smallest n where unanimous samples could certify (so no work is spent
    on looks that cannot decide); later looks grow geometrically (x1.5, at most ``batch_size`` more per
    look) until ``n_max``. Fewer looks leave more error budget to each.
    """
    p_star = probability_for_radius(radius_threshold, sigma) + oracle_error
    schedule = []
    n = 0
    j = 1
    while n < n_max:
        if p_star >= 1.0:
            n_first = n_max
        else:
            # all n agree -> LCB = alpha_j^(1/n); need that > p*.
            n_first = math.floor(math.log(checkpoint_alpha(alpha, j)) / math.log(max(p_star, 1e-12))) + 1
        if j == 1:
            n = max(n_first, 1)
        else:
            n = max(n_first, n + 1, min(int(math.ceil(n * 1.5)), n + batch_size))
        n = min(n, n_max)
        schedule.append(n)
        j += 1
    return schedule


def certify_sequential(
    sample: Sampler,
    *,
    sigma: float,
    alpha: float,
    radius_threshold: float,
    n_max: int,
    batch_size: int,
    oracle_error: float = 0.0,
    candidate: Optional[int] = None,
    n0: int = 16,
    symmetric_oracle: bool = False,
    out_of_time: Optional[Callable[[], bool]] = None,
    fallbacks: Sequence[Iterable[int]] = (),
    stop_when_hopeless: bool = True,
) -> Certificate:
    """Anytime-valid test of R >= ``radius_threshold``, i.e. p_A >= p* = Phi(radius_threshold / sigma).

    Samples arrive in batches; at the j-th look (sizes from :func:`sequential_schedule`) the
    Clopper-Pearson bounds at level alpha_j = alpha * 6 / (pi^2 j^2) are computed. Stop and certify when
    the corrected lower bound reaches p*; stop early without a certificate when the upper bound (plus
    eps) falls below p*; otherwise stop at ``n_max``. By the union bound over looks, the probability that
    any reported lower bound exceeds the true p_A is at most alpha, so a certificate is false with
    probability <= alpha. The radius reported is sigma * Phi^-1 of the lower bound at the stopping look.

    Without ``candidate``, ``n0`` separate selection samples pick it (they are not reused).

    ``out_of_time`` (asked before every batch) ends the test early, without a certificate (reason
    ``deadline_exceeded``). A certificate can still only come from a scheduled look on the samples
    drawn up to it, i.e. from an event of the untruncated test, so the error stays <= alpha; running
    out of time only removes chances to certify.

    ``fallbacks``: sets of classes; those containing the candidate are tested alongside it, each of the
    h hypotheses at alpha / h (schedule included). The test stops when the candidate certifies, or when
    the candidate is ruled out (upper bound below p*) and a set certifies or every set is ruled out too.
    A set is reported (``Certificate.fallback``) only when the candidate alone did not certify.

    ``stop_when_hopeless``: stop as soon as no hypothesis could certify at any remaining look even if every
    further sample agreed with it (before drawing anything, when the configuration cannot certify within
    ``n_max`` at all). This decides nothing differently: it only skips samples that cannot matter.
    """
    check_test_arguments(sigma, alpha, oracle_error, radius_threshold, n_max, batch_size)
    n_selection = 0
    if candidate is None:
        candidate, n_selection = select_candidate(sample, n0), n0
    hypotheses = hypotheses_of(candidate, fallbacks)
    share = alpha / len(hypotheses)
    p_star = max(probability_for_radius(radius_threshold, sigma), 0.5)
    schedule = sequential_schedule(
        sigma=sigma, alpha=share, radius_threshold=radius_threshold, n_max=n_max, batch_size=batch_size,
        oracle_error=oracle_error,
    )
    counts: Dict[int, int] = {}
    n = 0
    ks = np.zeros(len(hypotheses), dtype=np.int64)
    lowers, uppers = [0.0] * len(hypotheses), [1.0] * len(hypotheses)
    bounds = dict(schedule=schedule, share=share, p_star=p_star, oracle_error=oracle_error,
                  symmetric_oracle=symmetric_oracle)
    if stop_when_hopeless and candidate is not None and not _reachable(0, 0, 0, **bounds):
        return Certificate(candidate, False, 0.0, 0.0, n_selection, counts, BELOW_THRESHOLD, 1.0, 0)
    for j, n_look in enumerate(schedule, start=1):
        while n < n_look:
            if out_of_time is not None and out_of_time():
                radius = radius_from_lower_bound(lowers[0], sigma) if lowers[0] > 0.5 else 0.0
                return Certificate(candidate, False, radius, lowers[0], n + n_selection, counts, OUT_OF_TIME,
                                   uppers[0], j - 1)
            labels = draw(sample, min(batch_size, n_look - n))
            count_labels(labels, counts)
            if candidate is not None:
                ks += count_in_each(labels, hypotheses)
            n += labels.size
        if candidate is None:
            return Certificate(None, False, 0.0, 0.0, n + n_selection, counts, ABSTAIN, checkpoints=j)
        alpha_j = checkpoint_alpha(share, j)
        lowers = [oracle_corrected(lower_confidence_bound(int(k), int(n), alpha_j), oracle_error, symmetric_oracle)
                  for k in ks]
        uppers = [min(upper_confidence_bound(int(k), n, alpha_j) + oracle_error, 1.0) for k in ks]
        if passes(lowers[0], p_star):
            break
        if stop_when_hopeless and not any(_reachable(int(k), n, j, **bounds) for k in ks):
            break
        if uppers[0] < p_star:  # the candidate alone is out: stop once the sets are decided too
            sets = range(1, len(hypotheses))
            if any(passes(lowers[h], p_star) for h in sets) or all(uppers[h] < p_star for h in sets):
                break
    h = reported_hypothesis(lowers, p_star)
    return finish(candidate, int(ks[h]), n, n + n_selection, counts, lowers[h], sigma, radius_threshold,
                   uppers[h], j, fallback=hypotheses[h] if h else None)
