"""Certification behaviour on controlled samplers: early stops both ways, candidates, unmapped outputs."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rs_vla_guard import certification

DEFAULTS = dict(sigma=0.25, alpha=0.001, radius_threshold=0.25, n_max=256, batch_size=64)


class Counting:
    """A sampler that returns class 0 with probability p (else 1) and counts what was drawn."""

    def __init__(self, p, seed=0, other=1):
        self.rng = np.random.default_rng(seed)
        self.p, self.other, self.drawn = p, other, 0

    def __call__(self, m):
        self.drawn += m
        return np.where(self.rng.random(m) < self.p, 0, self.other)


def test_unanimous_candidate_certifies_at_the_first_look():
    sampler = Counting(1.0)
    cert = certification.certify_sequential(sampler, candidate=0, **DEFAULTS)
    first_look = certification.sequential_schedule(**DEFAULTS)[0]
    assert cert.certified and cert.reason == "certified"
    assert cert.n_samples == sampler.drawn == first_look < 64
    assert cert.radius >= 0.25
    assert cert.counts == {0: first_look}


def test_hopeless_candidate_stops_early_without_certificate():
    sampler = Counting(0.3)
    cert = certification.certify_sequential(sampler, candidate=0, **DEFAULTS)
    assert not cert.certified
    assert cert.n_samples < 256
    assert cert.p_upper < certification.probability_for_radius(0.25, 0.25)


def test_reported_radius_comes_from_the_bound_at_the_stopping_look():
    cert = certification.certify_sequential(Counting(1.0), candidate=0, **DEFAULTS)
    alpha_1 = certification.checkpoint_alpha(0.001, 1)
    expected = certification.radius_from_lower_bound(certification.lower_confidence_bound(cert.n_samples, cert.n_samples, alpha_1),
                                               0.25)
    assert cert.radius == pytest.approx(expected)


def test_schedule_is_increasing_and_ends_at_n_max():
    for n_max in (1, 10, 43, 256, 5000):
        schedule = certification.sequential_schedule(**{**DEFAULTS, "n_max": n_max})
        assert schedule[-1] == n_max
        assert all(b > a for a, b in zip(schedule, schedule[1:]))
        assert all(b - a <= 64 for a, b in zip(schedule[1:], schedule[2:]))


def test_selection_samples_choose_the_majority_and_are_counted():
    sampler = Counting(0.05, other=2)  # class 2 with probability 0.95
    cert = certification.certify_sequential(sampler, n0=16, **DEFAULTS)
    assert cert.candidate == 2 and cert.certified
    assert cert.n_samples == sampler.drawn


def test_all_unmapped_outputs_abstain_without_candidate():
    cert = certification.certify_sequential(lambda m: np.full(m, -1), **DEFAULTS)
    assert cert.candidate is None and not cert.certified and cert.reason == "abstain"
    cert = certification.certify_fixed(lambda m: np.full(m, -1), sigma=0.25, alpha=0.001, n0=10, n=100)
    assert cert.candidate is None and not cert.certified


def test_unmapped_outputs_count_against_the_candidate():
    cert = certification.certify_fixed(lambda m: np.where(np.arange(m) % 2 == 0, 0, -1), sigma=0.25, alpha=0.001, n0=10,
                                 n=100, candidate=0)
    assert cert.counts == {0: 50, -1: 50}
    assert cert.reason == "abstain" and cert.radius == 0.0


def test_fixed_mode_reports_below_threshold_reason():
    cert = certification.certify_fixed(Counting(0.9), sigma=0.25, alpha=0.001, n0=10, n=500, candidate=0,
                                 radius_threshold=1.0)
    assert cert.reason == "below_threshold" and not cert.certified and 0 < cert.radius < 1.0


def test_oracle_error_shrinks_the_radius():
    plain = certification.certify_fixed(Counting(1.0), sigma=0.25, alpha=0.001, n0=10, n=1000, candidate=0)
    noisy = certification.certify_fixed(Counting(1.0), sigma=0.25, alpha=0.001, n0=10, n=1000, candidate=0,
                                  oracle_error=0.05)
    assert noisy.p_lower == pytest.approx(plain.p_lower - 0.05)
    assert noisy.radius < plain.radius


def test_sampler_returning_the_wrong_count_is_an_error():
    with pytest.raises(ValueError, match="labels"):
        certification.certify_fixed(lambda m: [0], sigma=0.25, alpha=0.01, n0=5, n=10, candidate=0)


def test_expected_radius_grows_with_n_and_samples_needed_reaches_it():
    common = dict(sigma=0.25, alpha=0.001, p_true=0.99)
    radii = [certification.expected_radius(n, **common) for n in (10, 100, 1000, 10_000)]
    assert radii == sorted(radii) and radii[-1] < certification.radius_ceiling(sigma=0.25, p_true=0.99)
    n = certification.samples_needed(0.5, **common)
    assert certification.expected_radius(n, **common) >= 0.5 > certification.expected_radius(n - 1, **common)
    assert certification.samples_needed(0.6, **common) is None  # above sigma * Phi^-1(0.99) = 0.58


@settings(max_examples=200, deadline=None)
@given(p=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1), batches_allowed=st.integers(0, 8),
       batch_size=st.sampled_from([16, 43, 64]))
def test_running_out_of_time_never_adds_a_certificate(p, seed, batches_allowed, batch_size):
    """Cut after any number of batches, the test either finished exactly as without a clock, or ends
    uncertified (deadline_exceeded) having drawn fewer samples: time can only take certificates away."""
    params = dict(DEFAULTS, batch_size=batch_size)
    full = certification.certify_sequential(Counting(p, seed), candidate=0, **params)
    asked = []

    def out_of_time():
        asked.append(True)
        return len(asked) > batches_allowed

    sampler = Counting(p, seed)
    cut = certification.certify_sequential(sampler, candidate=0, out_of_time=out_of_time, **params)
    if cut.reason == "deadline_exceeded":
        assert not cut.certified
        assert cut.n_samples == sampler.drawn < full.n_samples
        assert cut.radius < params["radius_threshold"]
    else:
        assert cut == full


def test_out_of_time_before_the_first_batch_draws_nothing():
    sampler = Counting(1.0)
    cert = certification.certify_sequential(sampler, candidate=0, out_of_time=lambda: True, **DEFAULTS)
    assert (cert.certified, cert.reason, cert.n_samples, sampler.drawn) == (False, "deadline_exceeded", 0, 0)


@settings(max_examples=300, deadline=None)
@given(p=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1), radius=st.sampled_from([0.0, 0.1, 0.25, 0.4]),
       n_max=st.sampled_from([60, 100, 256, 400]), batch_size=st.sampled_from([16, 43, 64]),
       fallbacks=st.sampled_from([(), ((0, 1),), ((0, 1), (0, 2))]))
def test_stopping_when_hopeless_decides_exactly_as_drawing_every_sample(p, seed, radius, n_max, batch_size,
                                                                        fallbacks):
    """The hopeless stop only skips samples that cannot matter: same candidate, certification, reported
    hypothesis and reason as the test that draws on to its end, never more samples."""
    params = dict(DEFAULTS, radius_threshold=radius, n_max=n_max, batch_size=batch_size)
    if certification.smallest_certifying_n(sigma=0.25, alpha=0.001 / (1 + len(fallbacks)),
                                           radius_threshold=radius) > n_max:
        return
    sample = lambda seed_: (lambda m, rng=np.random.default_rng(seed_): np.where(  # noqa: E731
        rng.random(m) < p, 0, 1 + rng.integers(0, 2, m)))
    fast = certification.certify_sequential(sample(seed), candidate=0, fallbacks=fallbacks, **params)
    full = certification.certify_sequential(sample(seed), candidate=0, fallbacks=fallbacks,
                                            stop_when_hopeless=False, **params)
    assert (fast.certified, fast.fallback, fast.candidate) == (full.certified, full.fallback, full.candidate)
    assert fast.n_samples <= full.n_samples
    if fast.certified:
        assert fast == full


def test_a_hopeless_configuration_draws_nothing_and_a_hopeless_candidate_stops_early():
    sampler = Counting(1.0)
    # With two sets tested alongside, the candidate's share of alpha cannot certify 0.25 within 44 samples.
    cert = certification.certify_sequential(sampler, candidate=0, fallbacks=[(0, 1), (0, 2)],
                                            **dict(DEFAULTS, n_max=44))
    assert (cert.certified, cert.reason, sampler.drawn) == (False, "below_threshold", 0)
    sampler = Counting(0.0)  # every sample disagrees: after the first look, no later look can certify
    cert = certification.certify_sequential(sampler, candidate=0, **DEFAULTS)
    assert not cert.certified and sampler.drawn == certification.sequential_schedule(**DEFAULTS)[0]


@pytest.mark.parametrize("radius,mode", [(0.0, "sequential"), (0.25, "sequential"), (0.5, "sequential"),
                                         (0.25, "fixed"), (0.5, "fixed")])
def test_smallest_certifying_n_is_the_first_n_where_unanimous_samples_certify(radius, mode):
    n = certification.smallest_certifying_n(sigma=0.25, alpha=0.001, radius_threshold=radius, certify_mode=mode)
    level = certification.checkpoint_alpha(0.001, 1) if mode == "sequential" else 0.001
    p_star = max(certification.probability_for_radius(radius, 0.25), 0.5)
    bound = lambda m: certification.lower_confidence_bound(m, m, level)  # noqa: E731
    assert bound(n) >= p_star and bound(n) > 0.5 and not (bound(n - 1) >= p_star and bound(n - 1) > 0.5)
    assert certification.smallest_certifying_n(sigma=0.25, alpha=0.001, radius_threshold=9.0) is None
