"""The betting test (``certify_mode: betting``): its e-process, bounds, look schedule, futility stops and
sample counts against the Clopper-Pearson sequential test (fixed seeds, stated tolerances)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rs_vla_guard import certification
from rs_vla_guard.certification import betting

DEFAULTS = dict(sigma=0.25, alpha=0.001, radius_threshold=0.25)
P_STAR = certification.probability_for_radius(0.25, 0.25)


class Stream:
    """A fixed sequence of labels (0 = the candidate), served in whatever pieces the test asks for."""

    def __init__(self, labels):
        self.labels = np.asarray(labels, dtype=np.int64)
        self.drawn = 0
        self.requests = []

    def __call__(self, m):
        out = self.labels[self.drawn:self.drawn + m]
        if out.size < m:
            raise AssertionError("the test drew past the stream")
        self.drawn += m
        self.requests.append(m)
        return out


def stream(p, seed, length=5000):
    rng = np.random.default_rng(seed)
    return np.where(rng.random(length) < p, 0, 1)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 600), data=st.data(), m=st.floats(0.5, 0.99), step=st.floats(0.001, 0.2))
def test_evidence_grows_with_agreement_and_falls_with_the_null(n, data, m, step):
    k = data.draw(st.integers(0, n))
    if k < n:
        assert betting.log_evalue(k + 1, n, m) >= betting.log_evalue(k, n, m)
    assert betting.log_evalue(k, n, min(m + step, 0.999)) <= betting.log_evalue(k, n, m) + 1e-9
    assert betting.log_evalue_below(k, n, min(m + step, 0.999)) >= betting.log_evalue_below(k, n, m) - 1e-9


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 2000), data=st.data(), alpha=st.sampled_from([0.001, 0.01, 0.05]))
def test_confidence_sequence_brackets_the_observed_rate(n, data, alpha):
    k = data.draw(st.integers(0, n))
    low, high = betting.lower_bound(k, n, alpha), betting.upper_bound(k, n, alpha)
    assert 0.0 <= low <= k / n <= high <= 1.0
    # the lower bound is exactly where the evidence reaches 1/alpha
    if 0.0 < low < 0.999:
        assert betting.log_evalue(k, n, low) >= math.log(1 / alpha) - 1e-9
        assert betting.log_evalue(k, n, min(low + 1e-6, 0.9999)) < math.log(1 / alpha) + 1e-6


@settings(max_examples=40, deadline=None)
@given(p=st.sampled_from([0.5, 0.8, 0.9, 0.97, 1.0]), seed=st.integers(0, 10**6),
       batch_sizes=st.lists(st.integers(1, 130), min_size=2, max_size=2), n_max=st.sampled_from([64, 256, 1000]))
def test_the_outcome_does_not_depend_on_the_batch_size(p, seed, batch_sizes, n_max):
    """The looks are fixed by the schedule, batches are cut to end at them: the same samples give the same
    certificate, whatever the batch size; no batch is larger than asked, nothing past n_max is drawn."""
    labels = stream(p, seed)
    certificates = []
    for batch_size in batch_sizes:
        sampler = Stream(labels)
        certificates.append(certification.certify_betting(sampler, **DEFAULTS, n_max=n_max, batch_size=batch_size,
                                                          candidate=0))
        assert max(sampler.requests, default=0) <= batch_size and sampler.drawn <= n_max
        assert sampler.drawn == certificates[-1].n_samples
    first, second = certificates
    assert (first.certified, first.reason, first.n_samples, first.p_lower) == (
        second.certified, second.reason, second.n_samples, second.p_lower)


@settings(max_examples=40, deadline=None)
@given(p=st.floats(0.3, 1.0), seed=st.integers(0, 10**6), radius=st.sampled_from([0.0, 0.1, 0.25, 0.5]))
def test_a_certificate_reaches_its_threshold_and_reports_a_consistent_bound(p, seed, radius):
    cert = certification.certify_betting(Stream(stream(p, seed)), sigma=0.25, alpha=0.01, radius_threshold=radius,
                                         n_max=2000, batch_size=64, candidate=0)
    if cert.certified:
        assert cert.radius >= radius and cert.p_lower > 0.5
        assert cert.reason == certification.CERTIFIED
    else:
        assert cert.reason in (certification.BELOW_THRESHOLD, certification.ABSTAIN)
    assert cert.p_lower <= cert.p_upper


def test_unanimous_samples_certify_at_the_first_look():
    first = certification.first_look(**DEFAULTS, n_max=256)
    sampler = Stream(np.zeros(1000))
    cert = certification.certify_betting(sampler, **DEFAULTS, n_max=256, batch_size=64, candidate=0)
    assert cert.certified and cert.n_samples == first == 43 and sampler.requests == [43]
    # one sample fewer could not have certified: the evidence of 42 unanimous samples is below 1/alpha
    assert betting.log_evalue(42, 42, P_STAR) < math.log(1000) <= betting.log_evalue(43, 43, P_STAR)


def test_a_configuration_that_cannot_certify_within_n_max_draws_nothing():
    sampler = Stream(np.zeros(100))
    cert = certification.certify_betting(sampler, **DEFAULTS, n_max=40, batch_size=64, candidate=0)
    assert not cert.certified and sampler.drawn == 0 and cert.reason == certification.BELOW_THRESHOLD
    assert certification.smallest_certifying_n(**DEFAULTS, certify_mode="betting") == 43


@pytest.mark.parametrize("radius,p_true,most,mean_most", [(0.25, 0.5, 75, 50), (0.5, 0.5, 64, 64),
                                                          (0.25, 0.6, 123, 70), (0.5, 0.8, 128, 72)])
def test_a_frame_that_cannot_certify_costs_about_one_batch(radius, p_true, most, mean_most):
    """Futility: a candidate far below p* (0.84 at radius 0.25, 0.98 at 0.5) stops at the first look or the
    next, at n_max 4096: before the first look that could certify when that comes after 64 samples (323 at
    radius 0.5). Bounds measured over 60 fixed streams."""
    drawn = []
    for seed in range(60):
        sampler = Stream(stream(p_true, seed))
        cert = certification.certify_betting(sampler, sigma=0.25, alpha=0.001, radius_threshold=radius, n_max=4096,
                                             batch_size=64, candidate=0)
        assert not cert.certified
        drawn.append(sampler.drawn)
    assert max(drawn) <= most and np.mean(drawn) <= mean_most, drawn


def test_futility_never_changes_a_certificate_that_the_full_test_would_give_at_p_star_and_above():
    """Stopping for futility can only lose certificates; at p_A = 0.95 (p* = 0.84) it loses none of 200: on each
    stream, the test with its futility stops certifies exactly when the full test (no such stops) does."""
    full_certified = 0
    for seed in range(200):
        labels = stream(0.95, seed)
        with_stops = certification.certify_betting(Stream(labels), **DEFAULTS, n_max=1024, batch_size=64, candidate=0)
        full = certification.certify_betting(Stream(labels), **DEFAULTS, n_max=1024, batch_size=64, candidate=0,
                                             stop_when_hopeless=False)
        assert with_stops.certified == full.certified, seed
        full_certified += full.certified
    assert full_certified == 200


@pytest.mark.parametrize("radius,p_true", [(0.25, 0.9), (0.25, 0.95), (0.25, 0.99), (0.25, 1.0), (0.5, 0.99)])
def test_betting_needs_no_more_samples_than_the_sequential_test(radius, p_true):
    """Mean samples over 60 shared streams: betting <= 1.02 x the Clopper-Pearson sequential test (batch 64),
    and it certifies at least as often."""
    runs = {"betting": [], "sequential": []}
    for seed in range(60):
        labels = stream(p_true, seed, length=4096)
        for name, test in (("betting", certification.certify_betting), ("sequential", certification.certify_sequential)):
            cert = test(Stream(labels), sigma=0.25, alpha=0.001, radius_threshold=radius, n_max=4096, batch_size=64,
                        candidate=0)
            runs[name].append((cert.n_samples, cert.certified))
    mean = {name: np.mean([n for n, _ in values]) for name, values in runs.items()}
    rate = {name: np.mean([c for _, c in values]) for name, values in runs.items()}
    assert mean["betting"] <= 1.02 * mean["sequential"], mean
    assert rate["betting"] >= rate["sequential"], rate


def test_an_unmapped_clean_label_makes_the_first_draw_select_the_candidate():
    labels = np.array([1] * 30 + [0] * 13 + [1] * 2000)
    sampler = Stream(labels)
    cert = certification.certify_betting(sampler, **DEFAULTS, n_max=256, batch_size=64, candidate=lambda: None)
    assert cert.candidate == 1 and cert.certified
    assert cert.n_samples == 43 + 43  # the selection draw is not reused


def test_schedule_starts_at_the_first_look_and_grows_without_the_batch_size():
    looks = certification.look_schedule(43, 256)
    assert looks[0] == 43 and looks[-1] == 256 and all(b > a for a, b in zip(looks, looks[1:]))
    assert certification.look_schedule(323, 4096)[:4] == [64, 128, 256, 323]
