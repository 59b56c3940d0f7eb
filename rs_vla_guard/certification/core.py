"""What the certification tests share: the :class:`Certificate` they return, the sampler they consume, the
statistical outcomes they report, and the bookkeeping of counts and hypotheses. numpy only; every other
module of the package builds on this one, and it imports none of them but :mod:`.bounds`.

A sampler is ``sample(m)``: ``m`` class indices of the base classifier f = oracle o policy on
independently noised copies of the input (``-1`` = an output the oracle could not map).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .bounds import check_parameters, radius_from_lower_bound

Sampler = Callable[[int], Sequence[int]]

# The statistical outcomes a certificate reports (the package's one list of reasons, ``actions.py``,
# adds the guard's and the node's own stop reasons to these).
CERTIFIED = "certified"
BELOW_THRESHOLD = "below_threshold"
ABSTAIN = "abstain"
OUT_OF_TIME = "deadline_exceeded"


@dataclass
class Certificate:
    """Outcome of one certification.

    ``candidate`` is the class under test (None when no sample mapped to any class); ``p_lower`` the
    oracle-corrected lower bound on its probability under noise; ``radius`` = sigma * Phi^-1(p_lower)
    (0 when abstaining); ``certified`` is true when the radius reaches the requested threshold;
    ``n_samples`` counts the estimation samples plus any selection samples drawn; ``counts`` maps
    class index (-1 = unmapped) to the number of estimation samples with that class. ``fallback`` is the
    set of classes the certificate is about when the candidate alone did not certify but a fallback set
    containing it did (then radius, p_lower and p_upper are the set's); None when it is about the candidate.
    """

    candidate: Optional[int]
    certified: bool
    radius: float
    p_lower: float
    n_samples: int
    counts: Dict[int, int] = field(default_factory=dict)
    reason: str = ABSTAIN
    p_upper: float = 1.0
    checkpoints: int = 1
    fallback: Optional[Tuple[int, ...]] = None


def count_labels(labels: Sequence[int], into: Dict[int, int]) -> None:
    values, freq = np.unique(np.asarray(labels, dtype=np.int64), return_counts=True)
    for value, count in zip(values.tolist(), freq.tolist()):
        into[value] = into.get(value, 0) + count


def draw(sample: Sampler, m: int) -> np.ndarray:
    labels = np.asarray(sample(m), dtype=np.int64).reshape(-1)
    if labels.size != m:
        raise ValueError(f"sampler returned {labels.size} labels, {m} requested")
    return labels


def majority(counts: Dict[int, int]) -> Optional[int]:
    """The most frequent mapped class (None when none is mapped); ties go to the smallest index so the
    choice is deterministic."""
    mapped = {c: k for c, k in counts.items() if c >= 0}
    return min(mapped, key=lambda c: (-mapped[c], c)) if mapped else None


def select_candidate(sample: Sampler, n0: int) -> Optional[int]:
    counts: Dict[int, int] = {}
    count_labels(draw(sample, n0), counts)
    return majority(counts)


def hypotheses_of(candidate: Optional[int], fallbacks: Iterable[Iterable[int]]) -> List[Tuple[int, ...]]:
    """The candidate alone first, then each fallback set that contains it (chosen by the candidate only)."""
    if candidate is None:
        return [()]
    sets = [tuple(sorted(set(int(c) for c in s))) for s in fallbacks]
    return [(candidate,)] + [s for s in dict.fromkeys(sets) if candidate in s and len(s) > 1]


def count_in_each(labels: np.ndarray, hypotheses: List[Tuple[int, ...]]) -> np.ndarray:
    return np.array([np.count_nonzero(np.isin(labels, h)) for h in hypotheses], dtype=np.int64)


def passes(p_lower: float, p_star: float) -> bool:
    # p_lower > 0.5 matters only when the threshold is 0 (then any non-abstaining bound certifies).
    return p_lower >= p_star and p_lower > 0.5


def reported_hypothesis(lowers: Sequence[float], p_star: float) -> int:
    """The candidate if it certifies, else the fallback set with the highest certifying bound, else the candidate."""
    if passes(lowers[0], p_star):
        return 0
    passing = [h for h in range(1, len(lowers)) if passes(lowers[h], p_star)]
    return max(passing, key=lambda h: lowers[h]) if passing else 0


def finish(candidate, k, n, n_total, counts, p_lower, sigma, radius_threshold, p_upper=1.0, checkpoints=1,
            fallback=None):
    radius = radius_from_lower_bound(p_lower, sigma)
    if p_lower <= 0.5:
        reason, certified = ABSTAIN, False
    elif radius >= radius_threshold:
        reason, certified = CERTIFIED, True
    else:
        reason, certified = BELOW_THRESHOLD, False
    return Certificate(candidate, certified, radius, p_lower, n_total, counts, reason, p_upper, checkpoints,
                       fallback)


def check_test_arguments(sigma: float, alpha: float, oracle_error: float, radius_threshold: float, n_max: int,
                         batch_size: int) -> None:
    """ValueError for arguments no anytime threshold test (sequential or betting) can run with."""
    check_parameters(sigma, alpha, oracle_error)
    if n_max <= 0 or batch_size <= 0:
        raise ValueError(f"n_max and batch_size must be > 0, got {n_max}, {batch_size}")
    if radius_threshold < 0:
        raise ValueError(f"radius_threshold must be >= 0, got {radius_threshold}")
