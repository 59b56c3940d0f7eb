"""The dual-encoder semantic certificate in closed form against a dense sweep of the extent, on random
embeddings (property-based), and its construction's invariants."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from rs_vla_guard.certification.semantic import certify_semantic, plane, rotate, swept_interval

STEP = 1e-3


def embeddings(seed, dimensions=16, classes=4):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=dimensions), rng.normal(size=(classes, dimensions)), rng.normal(size=dimensions),
            rng.normal(size=dimensions))


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), dimensions=st.sampled_from([3, 8, 32]), classes=st.integers(2, 6))
def test_the_closed_form_interval_matches_a_dense_sweep(seed, dimensions, classes):
    image, units, source, target = embeddings(seed, dimensions, classes)
    result = certify_semantic(image, units, source, target)
    low, high = swept_interval(image, units, source, target, step=STEP)
    assert result.low <= 0.0 <= result.high
    assert abs(result.high - high) <= STEP + 1e-9 and abs(result.low - low) <= STEP + 1e-9


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_rotation_keeps_unit_norm_and_reaches_the_target_direction(seed):
    image, _, source, target = embeddings(seed)
    e1, e2, phi_target = plane(source, target)
    rotated = rotate(image, source, target, np.linspace(-3, 3, 7))
    assert np.allclose(np.linalg.norm(rotated, axis=1), 1.0)
    # the in-plane part of the source itself rotates onto the target's direction
    unit_target = target / np.linalg.norm(target)
    assert np.allclose(rotate(e1, source, target, phi_target), unit_target, atol=1e-9)
    assert 0 < phi_target <= math.pi


def test_a_prediction_no_rotation_can_change_is_certified_all_the_way_round():
    units = np.eye(4)
    image = np.array([0.1, 0.0, 0.0, 1.0])  # class 3, orthogonal to the plane of the prompts
    result = certify_semantic(image, units, np.array([1.0, 0, 0, 0]), np.array([0, 1.0, 0, 0]))
    assert result.predicted == 3 and (result.low, result.high) == (-math.pi, math.pi)
    assert result.limiting == (-1, -1)


def test_a_known_plane_gives_the_angle_where_the_classes_tie():
    """Two classes along e1 and e2; the image at 30 degrees towards e2 from e1 predicts class 0 until it
    rotates past 45 degrees (15 more towards the target), and back to -135 degrees the other way."""
    units = np.array([[1.0, 0.0], [0.0, 1.0]])
    image = np.array([math.cos(math.radians(30)), math.sin(math.radians(30))])
    result = certify_semantic(image, units, np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert result.predicted == 0 and result.phi_target == pytest.approx(math.pi / 2)
    assert result.high == pytest.approx(math.radians(15)) and result.low == pytest.approx(math.radians(-165))
    assert result.fraction[1] == pytest.approx(15 / 90)


def test_parallel_prompts_define_no_direction():
    with pytest.raises(ValueError, match="parallel"):
        certify_semantic(np.ones(3), np.eye(3), np.array([1.0, 0, 0]), np.array([2.0, 0, 0]))
