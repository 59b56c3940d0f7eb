"""Soundness by simulation (fixed seeds): certificates may overclaim with probability <= alpha.

A Bernoulli sampler has a known p_A for class 0. A certificate overclaims when Phi(R / sigma) > p_A
(its lower bound exceeds the truth) or when it certifies while p_A <= Phi(r_min / sigma). The observed
rate over TRIALS certifications must stay within alpha + 3 binomial standard errors.
"""
import math

import numpy as np
import pytest

from rs_vla_guard import certification

ALPHA = 0.05
TRIALS = 2000
SIGMA = 1.0
RADIUS_THRESHOLD = 0.5  # p* = Phi(0.5) = 0.6915
P_STAR = certification.probability_for_radius(RADIUS_THRESHOLD, SIGMA)
TOLERANCE = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / TRIALS)


def bernoulli(p, rng):
    return lambda m: np.where(rng.random(m) < p, 0, 1)


def overclaims(cert, p_true):
    if cert.candidate != 0:
        return False
    claims_more = cert.radius > 0 and certification.probability_for_radius(cert.radius, SIGMA) > p_true + 1e-12
    return claims_more or (cert.certified and p_true <= P_STAR)


@pytest.mark.parametrize("p_true", [0.6, 0.68, 0.69, 0.7, 0.75, 0.9, 0.99])
def test_sequential_overclaims_at_most_alpha(p_true):
    rng = np.random.default_rng(int(p_true * 1000))
    bad = sum(
        overclaims(certification.certify_sequential(bernoulli(p_true, rng), sigma=SIGMA, alpha=ALPHA,
                                              radius_threshold=RADIUS_THRESHOLD, n_max=400, batch_size=32,
                                              candidate=0), p_true)
        for _ in range(TRIALS)
    )
    assert bad / TRIALS <= TOLERANCE


@pytest.mark.parametrize("p_true", [0.6, 0.69, 0.7, 0.9])
def test_betting_overclaims_at_most_alpha(p_true):
    """The default test: its confidence-sequence lower bound and its certificates, at any stopping sample."""
    rng = np.random.default_rng(int(p_true * 1000) + 2)
    bad = sum(
        overclaims(certification.certify_betting(bernoulli(p_true, rng), sigma=SIGMA, alpha=ALPHA,
                                                 radius_threshold=RADIUS_THRESHOLD, n_max=400, batch_size=32,
                                                 candidate=0), p_true)
        for _ in range(TRIALS)
    )
    assert bad / TRIALS <= TOLERANCE


@pytest.mark.parametrize("p_true", [0.55, 0.68, 0.69, 0.7, 0.8, 0.95])
def test_fixed_overclaims_at_most_alpha(p_true):
    rng = np.random.default_rng(int(p_true * 1000) + 1)
    bad = sum(
        overclaims(certification.certify_fixed(bernoulli(p_true, rng), sigma=SIGMA, alpha=ALPHA, n0=20, n=200,
                                         radius_threshold=RADIUS_THRESHOLD), p_true)
        for _ in range(TRIALS)
    )
    assert bad / TRIALS <= TOLERANCE


def test_the_check_detects_an_unsound_certifier():
    # Re-testing at full alpha at every look (no budget split) is the classic mistake; just below the
    # threshold it overclaims far more often than alpha. This guards the simulation against being toothless.
    def naive(sample, n_looks=8, batch=50):
        k = n = 0
        for _ in range(n_looks):
            labels = sample(batch)
            k += int(np.sum(labels == 0))
            n += batch
            if certification.lower_confidence_bound(k, n, ALPHA) >= P_STAR:
                return True
        return False

    rng = np.random.default_rng(7)
    rate = sum(naive(bernoulli(P_STAR - 0.001, rng)) for _ in range(TRIALS)) / TRIALS
    assert rate > TOLERANCE


def test_sequential_certifies_clear_cases():
    rng = np.random.default_rng(3)
    certified = sum(
        certification.certify_sequential(bernoulli(0.95, rng), sigma=SIGMA, alpha=ALPHA, radius_threshold=RADIUS_THRESHOLD,
                                   n_max=400, batch_size=32, candidate=0).certified
        for _ in range(200)
    )
    assert certified >= 195
