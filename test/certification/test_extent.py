"""Extent certificates (transformation smoothing): the radius formulas, and soundness by simulation.

The simulation puts the worst case of each smoothing distribution in parameter space: a base classifier
h(theta) = class 0 when theta < t, else class 1 (for shift: dx < t). Moving the parameter by delta > 0
leaves class 0 the smoothed majority exactly while F(t - delta) > 1/2, F the CDF of the smoothing
distribution (its x-marginal for shift): the true extent is t - median(F). A certificate overclaims
when its radius exceeds that, or when it certifies a threshold the true extent does not reach. The rate
over TRIALS runs must stay within alpha + 3 binomial standard errors (fixed seeds).
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.stats import norm

from rs_vla_guard.certification import extent
from rs_vla_guard.certification.extent import ExtentSmoothing

ALPHA = 0.05
TRIALS = 1000
TOLERANCE = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / TRIALS)

SMOOTHINGS = {
    "brightness": ExtentSmoothing("brightness", 0.2),
    "blur (uniform)": ExtentSmoothing("blur", 4.0, "uniform"),
    "blur (folded Gaussian)": ExtentSmoothing("blur", 2.0, "folded_gaussian"),
    "shift": ExtentSmoothing("shift", 3.0),
}


def draw(smoothing, m, rng):
    """m parameters from the smoothing distribution (shift: the dx component; dy does not matter here)."""
    if smoothing.distribution == "uniform":
        return rng.uniform(0.0, smoothing.scale, m)
    values = rng.normal(0.0, smoothing.scale, m)
    return np.abs(values) if smoothing.distribution == "folded_gaussian" else values


def quantile(smoothing, p):
    if smoothing.distribution == "uniform":
        return p * smoothing.scale
    if smoothing.distribution == "folded_gaussian":
        return smoothing.scale * norm.ppf(0.5 + p / 2)
    return smoothing.scale * norm.ppf(p)


def true_extent(smoothing, p_true):
    """t - median for the worst-case classifier whose class 0 has probability p_true."""
    return quantile(smoothing, p_true) - quantile(smoothing, 0.5)


def worst_case_sampler(smoothing, p_true, rng):
    threshold = quantile(smoothing, p_true)
    return lambda m: np.where(draw(smoothing, m, rng) < threshold, 0, 1)


@pytest.mark.parametrize("name", list(SMOOTHINGS))
def test_each_formula_is_tight_for_the_worst_case_classifier(name):
    """radius(p) is exactly the true extent of the worst case with probability p: sound, and no slack."""
    smoothing = SMOOTHINGS[name]
    for p in (0.6, 0.75, 0.9, 0.99):
        assert smoothing.radius(p) == pytest.approx(true_extent(smoothing, p), rel=1e-9, abs=1e-12)
    assert smoothing.radius(0.5) == 0.0 and smoothing.radius(0.3) == 0.0


def threshold_runs(smoothing, p_true, runs, seed):
    """(false certifications, certifications) of the "extent >= radius(0.8)" test over ``runs`` runs."""
    extent_threshold = smoothing.radius(0.8)
    rng = np.random.default_rng(seed)
    bad = certified = 0
    for _ in range(runs):
        result = extent.certify_extent_threshold(worst_case_sampler(smoothing, p_true, rng), smoothing,
                                                 extent_threshold=extent_threshold, alpha=ALPHA, n_max=400,
                                                 batch_size=32, target=(0,))
        certified += result.certified
        bad += result.radius > true_extent(smoothing, p_true) + 1e-12 or (
            result.certified and true_extent(smoothing, p_true) < extent_threshold)
    return bad, certified


@pytest.mark.parametrize("name", list(SMOOTHINGS))
def test_threshold_tests_overclaim_at_most_alpha(name):
    """Certifying "extent >= r" when p_A sits just below p* = probability_for(r): any certificate is false."""
    smoothing = SMOOTHINGS[name]
    bad, _ = threshold_runs(smoothing, smoothing.probability_for(smoothing.radius(0.8)) - 0.005, TRIALS, len(name))
    assert bad / TRIALS <= TOLERANCE


def test_threshold_tests_certify_well_above_the_threshold():
    """Not vacuous: at p* + 0.1, 400 samples certify in nine runs of ten, and no radius overclaims."""
    smoothing = SMOOTHINGS["shift"]
    bad, certified = threshold_runs(smoothing, smoothing.probability_for(smoothing.radius(0.8)) + 0.1, 300, 5)
    assert certified / 300 > 0.9 and bad / 300 <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / 300)


@pytest.mark.parametrize("name", list(SMOOTHINGS))
def test_largest_extent_overclaims_at_most_alpha(name):
    """``rs-vla-guard extent``: n fixed samples, Clopper-Pearson bound, the largest certified extent."""
    smoothing = SMOOTHINGS[name]
    rng = np.random.default_rng(7 + len(name))
    for p_true in (0.7, 0.95):
        bad = sum(extent.certify_extent(worst_case_sampler(smoothing, p_true, rng), smoothing, n=200, alpha=ALPHA,
                                        target=(0,)).radius > true_extent(smoothing, p_true) + 1e-12
                  for _ in range(TRIALS))
        assert bad / TRIALS <= TOLERANCE


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(list(SMOOTHINGS)), p=st.floats(0.5001, 0.9999))
def test_probability_for_inverts_radius(name, p):
    smoothing = SMOOTHINGS[name]
    assert smoothing.probability_for(smoothing.radius(p)) == pytest.approx(p, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(list(SMOOTHINGS)), low=st.floats(0.0, 1.0), high=st.floats(0.0, 1.0))
def test_radius_never_falls_as_p_lower_rises(name, low, high):
    smoothing = SMOOTHINGS[name]
    low, high = sorted((low, high))
    assert smoothing.radius(low) <= smoothing.radius(high)


def test_intervals_and_ceilings():
    assert SMOOTHINGS["brightness"].interval(0.3) == (-0.3, 0.3)
    assert SMOOTHINGS["blur (uniform)"].interval(1.5) == (0.0, 1.5)  # blur only grows
    assert SMOOTHINGS["shift"].interval(2.0) == (0.0, 2.0)  # the length of (dx, dy)
    uniform = SMOOTHINGS["blur (uniform)"]
    assert uniform.radius(1.0) == pytest.approx(2.0) and not uniform.reachable(2.0) and uniform.reachable(1.99)
    assert math.isinf(SMOOTHINGS["brightness"].radius(1.0))
    with pytest.raises(ValueError, match="at most 2"):
        extent.certify_extent_threshold(lambda m: np.zeros(m, int), uniform, extent_threshold=2.5, alpha=0.01,
                                        n_max=100, batch_size=10)


@pytest.mark.parametrize("arguments, message", [
    (("hue", 1.0), "unknown transform"), (("brightness", 0.0), "scale"), (("brightness", float("nan")), "scale"),
    (("brightness", 0.2, "uniform"), "Gaussian only"), (("blur", 1.0, "gaussian"), "uniform or folded"),
])
def test_bad_smoothings_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        ExtentSmoothing(*arguments)


def test_a_fallback_set_target_counts_every_member():
    """The target is what the L2 certificate certified: a set's members all count for it."""
    labels = np.array([0, 2] * 50)
    result = extent.certify_extent_threshold(lambda m: labels[:m], SMOOTHINGS["brightness"], extent_threshold=0.1,
                                             alpha=0.01, n_max=100, batch_size=100, target=(0, 2))
    assert result.certified and result.counts == {0: result.n_samples // 2, 2: result.n_samples // 2}
    alone = extent.certify_extent_threshold(lambda m: labels[:m], SMOOTHINGS["brightness"], extent_threshold=0.1,
                                            alpha=0.01, n_max=100, batch_size=100, target=(0,))
    assert not alone.certified
