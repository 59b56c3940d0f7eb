"""Certified envelopes (percentile smoothing): soundness by simulation against known output distributions,
and the properties a robot's command bound relies on."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.optimize import brentq
from scipy.stats import norm

from rs_vla_guard.certification.envelopes import (certify_envelopes, envelope_width_floor, expected_gaussian_width,
                                                  order_statistic_indices, samples_for_envelope, shifted_percentiles)

CERTIFICATES = 10_000
ALPHA = 0.05
SLACK = 3 * np.sqrt(ALPHA * (1 - ALPHA) / CERTIFICATES)  # 3 standard errors of a rate near alpha


def gaussian(rng, shape):
    return rng.normal(0.3, 0.2, shape), lambda q: 0.3 + 0.2 * norm.ppf(q)


def bimodal(rng, shape):
    centres = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    values = centres + 0.2 * rng.normal(size=shape)
    cdf = lambda t: 0.5 * norm.cdf((t + 1) / 0.2) + 0.5 * norm.cdf((t - 1) / 0.2)  # noqa: E731
    return values, lambda q: brentq(lambda t: cdf(t) - q, -5, 5)


def discrete(rng, shape):
    support, weights = np.array([-0.6, 0.0, 0.6]), np.array([0.2, 0.5, 0.3])
    cumulative = np.cumsum(weights)
    return support[rng.choice(3, size=shape, p=weights)], lambda q: float(support[np.searchsorted(cumulative, q - 1e-12)])


@pytest.mark.parametrize("distribution", [gaussian, bimodal, discrete])
@pytest.mark.parametrize("n, radius", [(64, 0.1), (256, 0.25)])
def test_envelopes_miss_the_true_smoothed_median_range_at_most_alpha_of_the_time(distribution, n, radius):
    """10,000 certificates per case, seed fixed: the rate of envelopes that fail to contain
    [h_{p-}, h_{p+}] (the range the smoothed median can reach within the radius) is <= alpha + 3 SE."""
    rng = np.random.default_rng(20261124)
    sigma = 0.25
    samples, quantile = distribution(rng, (CERTIFICATES, n))
    p_low, p_high = shifted_percentiles(radius, sigma)
    true_low, true_high = quantile(p_low), quantile(p_high)
    k_lo, k_hi = order_statistic_indices(n, radius, sigma, ALPHA)
    ordered = np.sort(samples, axis=1)
    low, high = ordered[:, k_lo - 1], ordered[:, k_hi - 1]
    misses = np.mean((low > true_low) | (high < true_high))
    assert misses <= ALPHA + SLACK, misses
    one = certify_envelopes(samples[0][:, None], radius, sigma, ALPHA)[0]  # the public function, same bounds
    assert (one.low, one.high) == (low[0], high[0])


samples_strategy = st.lists(st.floats(-5, 5, allow_nan=False), min_size=30, max_size=300)


@settings(max_examples=100, deadline=None)
@given(samples_strategy, st.floats(0.0, 0.5), st.floats(0.0, 0.5), st.sampled_from([0.001, 0.01, 0.1]))
def test_a_larger_radius_never_narrows_the_envelope(values, radius_a, radius_b, alpha):
    small, large = sorted((radius_a, radius_b))
    a = certify_envelopes(np.array(values), small, 0.25, alpha)[0]
    b = certify_envelopes(np.array(values), large, 0.25, alpha)[0]
    assert b.low <= a.low and b.high >= a.high


@settings(max_examples=100, deadline=None)
@given(samples_strategy, st.floats(0.0, 0.5))
def test_more_confidence_never_narrows_it_and_it_holds_the_median(values, radius):
    loose = certify_envelopes(np.array(values), radius, 0.25, 0.1)[0]
    strict = certify_envelopes(np.array(values), radius, 0.25, 0.001)[0]
    assert strict.low <= loose.low and strict.high >= loose.high
    assert loose.low <= loose.median <= loose.high and loose.clamp(1e9) == min(1e9, loose.high)


@settings(max_examples=50, deadline=None)
@given(samples_strategy, st.integers(1, 10))
def test_non_finite_samples_only_widen_and_dimensions_share_alpha(values, nans):
    clean = np.array(values)
    dirty = np.concatenate([clean, [np.nan] * nans])
    a = certify_envelopes(clean, 0.25, 0.25, 0.05)[0]
    b = certify_envelopes(np.concatenate([clean, [0.0] * nans]), 0.25, 0.25, 0.05)[0]
    c = certify_envelopes(dirty, 0.25, 0.25, 0.05)[0]
    assert c.low <= b.low and c.high >= b.high and np.isfinite(a.median)
    two = certify_envelopes(np.stack([clean, clean], 1), 0.25, 0.25, 0.05, names=["linear_x", "angular_z"])
    assert [e.name for e in two] == ["linear_x", "angular_z"]
    assert two[0].low <= a.low and two[0].high >= a.high  # alpha split over two dimensions: wider


def test_too_few_samples_leave_a_side_unbounded():
    envelope = certify_envelopes(np.zeros(5), 0.5, 0.25, 0.001)[0]
    assert envelope.low == -np.inf and envelope.high == np.inf and envelope.width == np.inf


def test_the_planner_finds_the_smallest_n_and_knows_the_floor():
    options = dict(radius=0.25, sigma=0.25, alpha=0.001, output_std=0.1)
    n = samples_for_envelope(0.3, **options)
    assert expected_gaussian_width(n, **options) <= 0.3 < expected_gaussian_width(n - 1, **options)
    floor = envelope_width_floor(radius=0.25, sigma=0.25, output_std=0.1)
    assert floor == pytest.approx(0.2) and samples_for_envelope(0.19, **options) is None
    assert expected_gaussian_width(100_000, **options) == pytest.approx(floor, rel=0.05)
