"""Certified chunk tubes: the guarantee by simulation with a known smoothed policy, and properties."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from rs_vla_guard.certification import certify_tube, samples_for_tube
from rs_vla_guard.certification.envelopes import certify_envelopes


def test_every_executed_coordinate_holds_under_the_worst_perturbation_within_alpha():
    """A linear policy y_hd = w_hd . (x + e): its smoothed median at x + delta is w_hd . (x + delta), and the
    worst delta of norm R moves it by R |w_hd| either way. A tube is wrong when any coordinate's interval
    misses either extreme; over 400 seeded decisions that happens at most alpha of the time (plus the
    binomial slack of 400 trials at 99.9%)."""
    rng = np.random.default_rng(7)
    steps, joints, pixels, n, sigma, radius, alpha = 3, 2, 16, 256, 0.25, 0.25, 0.1
    weights = rng.normal(0, 0.3, size=(steps, joints, pixels))
    x = rng.uniform(0, 1, size=pixels)
    centre = weights @ x
    reach = radius * np.linalg.norm(weights, axis=-1)
    failures, trials = 0, 400
    for _ in range(trials):
        noise = rng.normal(0, sigma, size=(n, pixels))
        samples = np.einsum("hdp,np->nhd", weights, x + noise)
        tube = certify_tube(samples, steps, radius, sigma, alpha)
        failures += bool(((tube.low > centre - reach) | (tube.high < centre + reach)).any())
    assert failures <= binom.ppf(0.999, trials, alpha), failures
    assert failures < trials * alpha * 0.5  # Bonferroni over 6 coordinates is conservative, as it should be


def test_the_tube_is_the_envelopes_of_the_executed_coordinates_with_alpha_split_over_all_of_them():
    rng = np.random.default_rng(1)
    samples = rng.normal(size=(300, 8, 3))
    tube = certify_tube(samples, 5, 0.2, 0.25, 0.01, joint_names=["a", "b", "c"], hypotheses=1)
    envelopes = certify_envelopes(samples[:, :5].reshape(300, 15), 0.2, 0.25, 0.01, hypotheses=1)
    assert tube.low.shape == (5, 3) and tube.joint_names == ("a", "b", "c")
    assert np.allclose(tube.low.ravel(), [e.low for e in envelopes])
    assert np.allclose(tube.high.ravel(), [e.high for e in envelopes])
    # alpha shared by 16 tests is a wider tube than alpha shared by the 15 coordinates alone
    alone = certify_tube(samples, 5, 0.2, 0.25, 0.01)
    assert (tube.widths >= alone.widths - 1e-12).all() and (tube.widths > alone.widths).any()


@settings(max_examples=60, deadline=None)
@given(n=st.integers(20, 400), steps=st.integers(1, 6), radius=st.floats(0.0, 0.5), seed=st.integers(0, 10_000))
def test_median_inside_the_tube_clamp_inside_it_and_a_larger_radius_never_narrows_it(n, steps, radius, seed):
    samples = np.random.default_rng(seed).normal(size=(n, 6, 2))
    tube = certify_tube(samples, steps, radius, 0.25, 0.01)
    bounded = np.isfinite(tube.low) & np.isfinite(tube.high)
    assert ((tube.low <= tube.median) & (tube.median <= tube.high))[bounded].all()
    clamped = tube.clamp(samples[0, :steps])
    assert ((clamped >= tube.low) & (clamped <= tube.high)).all()
    wider = certify_tube(samples, steps, radius + 0.1, 0.25, 0.01)
    assert (wider.widths >= tube.widths - 1e-12).all()


def test_non_finite_samples_only_widen_and_shapes_are_checked():
    samples = np.random.default_rng(2).normal(size=(200, 4, 2))
    broken = samples.copy()
    broken[:40, 1, 0] = np.nan
    clean, widened = certify_tube(samples, 3, 0.1, 0.25, 0.01), certify_tube(broken, 3, 0.1, 0.25, 0.01)
    assert widened.widths[1, 0] >= clean.widths[1, 0]
    with pytest.raises(ValueError):
        certify_tube(samples, 5, 0.1, 0.25, 0.01)  # more executed steps than the chunk has
    with pytest.raises(ValueError):
        certify_tube(samples[:, :, 0], 1, 0.1, 0.25, 0.01)


def test_planning_a_tube_costs_little_more_than_one_envelope():
    common = dict(radius=0.25, sigma=0.25, alpha=0.001, output_std=0.05)
    one = samples_for_tube(0.25, coordinates=1, **common)
    tube = samples_for_tube(0.25, coordinates=10 * 7, **common)
    assert one is not None and tube is not None and one < tube < 3 * one
    assert samples_for_tube(0.09, coordinates=70, **common) is None  # below the floor 2R/sigma * std = 0.1
