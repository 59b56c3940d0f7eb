"""Clopper-Pearson bounds, radius, oracle correction: exact values and monotonicity properties."""
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import beta, norm

from rs_vla_guard import certification

alphas = st.floats(min_value=1e-6, max_value=0.49)


@st.composite
def counts(draw, max_n=5000):
    n = draw(st.integers(min_value=1, max_value=max_n))
    k = draw(st.integers(min_value=0, max_value=n))
    return k, n


@pytest.mark.parametrize("k,n,alpha", [(1, 1, 0.05), (7, 10, 0.05), (95, 100, 0.001), (500, 1000, 0.01), (0, 5, 0.1)])
def test_bounds_match_beta_quantiles(k, n, alpha):
    expected_lower = 0.0 if k == 0 else beta.ppf(alpha, k, n - k + 1)
    expected_upper = 1.0 if k == n else beta.ppf(1 - alpha, k + 1, n - k)
    assert certification.lower_confidence_bound(k, n, alpha) == pytest.approx(expected_lower, abs=1e-12)
    assert certification.upper_confidence_bound(k, n, alpha) == pytest.approx(expected_upper, abs=1e-12)


@pytest.mark.parametrize("n,ratio", [(100, 1.50), (1000, 2.46), (10_000, 3.20)])
def test_unanimous_samples_give_the_known_radius(n, ratio):
    p_lower = certification.lower_confidence_bound(n, n, 0.001)
    assert p_lower == pytest.approx(0.001 ** (1 / n), rel=1e-9)
    assert certification.radius_from_lower_bound(p_lower, 1.0) == pytest.approx(ratio, abs=0.005)
    assert certification.radius_from_lower_bound(p_lower, 0.25) == pytest.approx(0.25 * ratio, abs=0.002)


@given(counts(), alphas)
def test_lower_bound_is_below_the_estimate_and_upper_above(kn, alpha):
    k, n = kn
    low = certification.lower_confidence_bound(k, n, alpha)
    high = certification.upper_confidence_bound(k, n, alpha)
    assert 0.0 <= low <= k / n <= high <= 1.0


@given(counts(), alphas)
def test_bounds_grow_with_k(kn, alpha):
    k, n = kn
    if k < n:
        assert certification.lower_confidence_bound(k + 1, n, alpha) >= certification.lower_confidence_bound(k, n, alpha)
        assert certification.upper_confidence_bound(k + 1, n, alpha) >= certification.upper_confidence_bound(k, n, alpha)


@given(counts(), alphas)
def test_more_failures_lower_the_bounds(kn, alpha):
    # Same successes in more trials: the estimate falls, and so must both bounds.
    k, n = kn
    assert certification.lower_confidence_bound(k, n + 1, alpha) <= certification.lower_confidence_bound(k, n, alpha) + 1e-12
    assert certification.upper_confidence_bound(k, n + 1, alpha) <= certification.upper_confidence_bound(k, n, alpha) + 1e-12


@given(st.integers(min_value=1, max_value=5000), alphas)
def test_unanimity_bound_tightens_with_n(n, alpha):
    assert certification.lower_confidence_bound(n + 1, n + 1, alpha) >= certification.lower_confidence_bound(n, n, alpha)


@given(counts(), alphas, alphas)
def test_smaller_alpha_widens_the_interval(kn, a1, a2):
    k, n = kn
    small, large = sorted((a1, a2))
    assert certification.lower_confidence_bound(k, n, small) <= certification.lower_confidence_bound(k, n, large) + 1e-12
    assert certification.upper_confidence_bound(k, n, small) >= certification.upper_confidence_bound(k, n, large) - 1e-12


@given(st.floats(min_value=0.0, max_value=1.0), st.floats(min_value=0.01, max_value=5.0))
def test_radius_is_zero_at_or_below_one_half_and_inverts_phi(p, sigma):
    radius = certification.radius_from_lower_bound(p, sigma)
    if p <= 0.5:
        assert radius == 0.0
    elif p < 1.0:
        assert radius == pytest.approx(sigma * norm.ppf(p), rel=1e-9, abs=1e-12)
        assert certification.probability_for_radius(radius, sigma) == pytest.approx(p, abs=1e-9)
    else:
        assert math.isinf(radius)


@given(st.floats(min_value=0.0, max_value=1.0), st.floats(min_value=0.0, max_value=0.49))
def test_oracle_correction_never_raises_the_bound(p, eps):
    plain = certification.oracle_corrected(p, eps)
    assert plain == pytest.approx(max(p - eps, 0.0))
    assert plain <= p
    if p - eps > 0.5:
        # The symmetric option is tighter, and only valid under its assumption.
        assert certification.oracle_corrected(p, eps, symmetric=True) >= plain


@pytest.mark.parametrize("bad", [dict(k=-1, n=5), dict(k=6, n=5), dict(k=0, n=0)])
def test_invalid_counts_are_rejected(bad):
    with pytest.raises(ValueError):
        certification.lower_confidence_bound(alpha=0.05, **bad)


def test_invalid_parameters_are_rejected():
    with pytest.raises(ValueError, match="sigma"):
        certification.certify_fixed(lambda m: [0] * m, sigma=0.0, alpha=0.01, n0=5, n=10)
    with pytest.raises(ValueError, match="alpha"):
        certification.certify_sequential(lambda m: [0] * m, sigma=0.25, alpha=0.5, radius_threshold=0.1, n_max=10,
                                   batch_size=5)
    with pytest.raises(ValueError, match="oracle_error"):
        certification.oracle_corrected(0.9, 0.5)
