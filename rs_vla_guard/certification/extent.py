"""Extent certificates: how far a physical change (lighting, contrast, blur, a shifted camera) may go before
the smoothed action changes (transformation smoothing; Li et al., CCS 2021, "TSS"; ``docs/theory.md``
section 8).

Smooth over a transformation's parameter theta instead of pixels: with h(theta) = f(T_theta(x)) the base
classifier on the observed frame x transformed by theta, the smoothed classifier at extent delta is

    G(delta) = argmax_c P(h(delta + theta) = c),   theta ~ D (the smoothing distribution).

If P(h(theta) = c_A) >= p_lower > 1/2, then G(delta) = c_A for every delta in the certified interval, by
the same Neyman-Pearson argument as the L2 certificate, applied to the parameter instead of the pixels:

- ``gaussian`` D = N(0, s^2) (brightness shift x + b; contrast as a log factor, x * e^k) and its 2-D form
  N(0, s^2 I) (shift (dx, dy) in pixels, reflect padding): |delta| < s * Phi^-1(p_lower) (for shift: the L2
  norm of (dx, dy));
- ``uniform`` D = U[0, a] (Gaussian blur, the kernel's variance; blur only grows): 0 <= delta < a (p_lower - 1/2);
- ``folded_gaussian`` D = |N(0, s^2)| (blur, alternatively): 0 <= delta < s (Phi^-1(1/2 + p_lower/2) - Phi^-1(3/4)).

Each radius is an increasing function of p_lower, so a threshold test "extent >= r" is a test of p_A >= p*
with p* its inverse at r: exactly the threshold test of the L2 certificate (:func:`~.betting.certify_betting`)
with p* in place of Phi(r / sigma). Only the noise and the radius formula change. The transforms themselves
(on the device) are in :mod:`rs_vla_guard.sampling`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, Optional, Sequence, Tuple

import numpy as np
from scipy.stats import norm as _norm

from .betting import certify_betting, first_look
from .bounds import lower_confidence_bound
from .core import ABSTAIN, BELOW_THRESHOLD, CERTIFIED, Certificate, Sampler, count_labels, draw

GAUSSIAN = "gaussian"
UNIFORM = "uniform"
FOLDED_GAUSSIAN = "folded_gaussian"
DISTRIBUTIONS = (GAUSSIAN, UNIFORM, FOLDED_GAUSSIAN)

# transform -> (smoothing distribution, parameter dimensions, one-sided, unit). One list that the sampler,
# the parameters, the CLI and the docs take their names from.
TRANSFORMS: Dict[str, Tuple[str, int, bool, str]] = {
    "brightness": (GAUSSIAN, 1, False, "added to every [0,1] pixel value"),
    "contrast": (GAUSSIAN, 1, False, "log factor k: pixels times e^k"),
    "blur": (UNIFORM, 1, True, "added Gaussian-kernel variance, pixels^2 of the policy input"),
    "shift": (GAUSSIAN, 2, False, "L2 length of (dx, dy), pixels of the policy input, reflect padding"),
}
# smoothing scale per transform when none is configured: s (Gaussian, folded Gaussian) or a (uniform)
DEFAULT_SCALES: Dict[str, float] = {"brightness": 0.2, "contrast": 0.2, "blur": 4.0, "shift": 3.0}

_Q3 = float(_norm.ppf(0.75))  # Phi^-1(3/4), the folded Gaussian's median over s


@dataclass(frozen=True)
class ExtentSmoothing:
    """One transform smoothed by one distribution of its parameter, with the radius formula that follows.

    ``scale``: s of N(0, s^2) or |N(0, s^2)|, or a of U[0, a]."""

    transform: str
    scale: float
    distribution: str = ""  # "" = the transform's own (TRANSFORMS)

    def __post_init__(self):
        if self.transform not in TRANSFORMS:
            raise ValueError(f"unknown transform {self.transform!r}; use one of {', '.join(TRANSFORMS)}")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"{self.transform}: smoothing scale must be a finite number > 0, got {self.scale}")
        distribution = self.distribution or TRANSFORMS[self.transform][0]
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"unknown smoothing distribution {distribution!r}; use one of {', '.join(DISTRIBUTIONS)}")
        if self.transform != "blur" and distribution != GAUSSIAN:
            raise ValueError(f"{self.transform} is smoothed by a Gaussian only (got {distribution})")
        if self.transform == "blur" and distribution == GAUSSIAN:
            raise ValueError("blur (a variance, never negative) is smoothed by uniform or folded_gaussian")
        object.__setattr__(self, "distribution", distribution)

    @property
    def dimensions(self) -> int:
        return TRANSFORMS[self.transform][1]

    @property
    def one_sided(self) -> bool:
        """Blur only grows: its interval is [0, radius), the others' [-radius, radius)."""
        return TRANSFORMS[self.transform][2]

    def radius(self, p_lower: float) -> float:
        """The certified extent for a lower bound ``p_lower`` on the candidate's probability (0 when <= 1/2)."""
        if p_lower <= 0.5:
            return 0.0
        if self.distribution == UNIFORM:
            return self.scale * (min(p_lower, 1.0) - 0.5)
        if p_lower >= 1.0:
            return math.inf
        if self.distribution == GAUSSIAN:
            return float(self.scale * _norm.ppf(p_lower))
        return float(max(0.0, self.scale * (_norm.ppf(0.5 + p_lower / 2.0) - _Q3)))

    def probability_for(self, extent: float) -> float:
        """p*: the smallest probability whose :meth:`radius` reaches ``extent`` (> 1 when none does)."""
        if extent <= 0:
            return 0.5
        if self.distribution == UNIFORM:
            return 0.5 + extent / self.scale
        if self.distribution == GAUSSIAN:
            return float(_norm.cdf(extent / self.scale))
        return float(2.0 * _norm.cdf(extent / self.scale + _Q3) - 1.0)

    def interval(self, radius: float) -> Tuple[float, float]:
        """The certified interval of the parameter for ``radius`` (shift: of the length of (dx, dy))."""
        return (0.0, radius) if self.one_sided or self.dimensions == 2 else (-radius, radius)

    def reachable(self, extent: float) -> bool:
        """Whether any p_lower < 1 certifies ``extent`` (uniform smoothing cannot pass a / 2)."""
        return self.probability_for(extent) < 1.0


@dataclass
class ExtentCertificate:
    """The outcome of one extent test: ``interval`` of the parameter over which the smoothed action is the
    tested one (``(0, 0)`` when not even 0 is certified); ``certified`` when the radius reaches the
    requested extent; ``n_samples`` the transformed samples drawn; ``counts`` the class counts."""

    transform: str
    certified: bool
    radius: float
    interval: Tuple[float, float]
    p_lower: float
    n_samples: int
    reason: str
    counts: Dict[int, int] = field(default_factory=dict)
    extent_threshold: float = 0.0

    def as_record(self) -> Dict[str, object]:
        """JSON-ready: an infinite end (all samples agreed under Gaussian smoothing) is written as null."""
        return {"transform": self.transform, "certified": self.certified,
                "interval": [_finite_or_none(v) for v in self.interval], "radius": _finite_or_none(self.radius),
                "p_lower": self.p_lower, "n_samples": self.n_samples, "reason": self.reason,
                "extent_threshold": self.extent_threshold}


def _finite_or_none(value: float) -> Optional[float]:
    return float(value) if math.isfinite(value) else None


def certify_extent_threshold(sample: Sampler, smoothing: ExtentSmoothing, *, extent_threshold: float,
                             alpha: float, n_max: int, batch_size: int, target: Iterable[int] = (1,),
                             out_of_time: Optional[Callable[[], bool]] = None) -> ExtentCertificate:
    """Anytime-valid test of "extent >= ``extent_threshold``" for the classes in ``target`` (the action the
    L2 certificate chose, or its fallback set), from ``sample(m)``: m labels of h(theta), theta ~ the
    smoothing distribution. The target is fixed before any of these samples, so no selection is needed.

    The test is :func:`~.betting.certify_betting` on the indicator "label in target" with p* =
    ``smoothing.probability_for(extent_threshold)`` (passed as a unit-sigma radius Phi^-1(p*)); the radius is
    then ``smoothing.radius(p_lower)``. False certification probability <= ``alpha``. An extent no p_lower
    can certify (uniform smoothing beyond a / 2) raises ValueError: a configuration error, not a frame's."""
    if not smoothing.reachable(extent_threshold):
        raise ValueError(f"{smoothing.transform}: an extent of {extent_threshold} cannot be certified with "
                         f"{smoothing.distribution} smoothing of scale {smoothing.scale} (at most "
                         f"{smoothing.scale / 2:g}); raise the smoothing scale")
    members = frozenset(int(c) for c in target)
    counts: Dict[int, int] = {}

    def indicator(m: int) -> np.ndarray:
        labels = draw(sample, m)
        count_labels(labels, counts)
        return np.isin(labels, list(members)).astype(np.int64)

    p_star = max(smoothing.probability_for(extent_threshold), 0.5)
    certificate = certify_betting(indicator, sigma=1.0, alpha=alpha, radius_threshold=float(_norm.ppf(p_star)),
                                  n_max=n_max, batch_size=batch_size, candidate=1, out_of_time=out_of_time)
    return _extent_certificate(smoothing, certificate, counts, extent_threshold)


def first_extent_look(smoothing: ExtentSmoothing, extent_threshold: float, *, alpha: float,
                      n_max: int) -> Optional[int]:
    """The fewest samples with which unanimous agreement certifies ``extent_threshold`` (None when not even
    ``n_max`` do, or no p_lower can): a configuration check, as for the L2 threshold."""
    if not smoothing.reachable(extent_threshold):
        return None
    p_star = max(smoothing.probability_for(extent_threshold), 0.5)
    return first_look(sigma=1.0, alpha=alpha, radius_threshold=float(_norm.ppf(p_star)), n_max=n_max)


def certify_extent(sample: Sampler, smoothing: ExtentSmoothing, *, n: int, alpha: float,
                   target: Iterable[int]) -> ExtentCertificate:
    """The largest certified extent from ``n`` samples (Clopper-Pearson lower bound at ``alpha``; no
    threshold): what ``rs-vla-guard extent`` reports. ``target``: classes chosen without these samples."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    members = frozenset(int(c) for c in target)
    counts: Dict[int, int] = {}
    labels = draw(sample, n)
    count_labels(labels, counts)
    k = sum(count for label, count in counts.items() if label in members)
    p_lower = lower_confidence_bound(k, n, alpha)
    certificate = Certificate(1, p_lower > 0.5, 0.0, p_lower, n, {}, CERTIFIED if p_lower > 0.5 else ABSTAIN)
    return _extent_certificate(smoothing, certificate, counts, 0.0)


def _extent_certificate(smoothing: ExtentSmoothing, certificate: Certificate, counts: Dict[int, int],
                        extent_threshold: float) -> ExtentCertificate:
    radius = smoothing.radius(certificate.p_lower)
    certified = bool(certificate.certified) and radius >= extent_threshold
    reason = certificate.reason if not certified else CERTIFIED
    if certificate.reason == CERTIFIED and not certified:
        reason = BELOW_THRESHOLD
    return ExtentCertificate(smoothing.transform, certified, radius, smoothing.interval(radius),
                             certificate.p_lower, certificate.n_samples, reason, dict(counts), extent_threshold)


def smoothings(scales: Dict[str, float], blur_distribution: str = UNIFORM,
               names: Sequence[str] = tuple(TRANSFORMS)) -> Dict[str, ExtentSmoothing]:
    """The smoothing of each transform in ``names``: ``scales`` where given, else :data:`DEFAULT_SCALES`."""
    return {name: ExtentSmoothing(name, scales.get(name, DEFAULT_SCALES[name]),
                                  blur_distribution if name == "blur" else "")
            for name in names}
