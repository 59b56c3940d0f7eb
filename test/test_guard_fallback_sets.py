"""Fallback sets in the guard, on the built-in policy: frames on the move/turn border, where the smoothed policy is split
and the single action cannot certify, publish the certified set instead of a stop; clear frames are
decided exactly as without sets."""
import pytest

from rs_vla_guard import certification
from rs_vla_guard.tasks import blocks as scenes

pytestmark = pytest.mark.model

SETS = "move_forward+turn_left, move_forward+turn_right"
INSTRUCTION = "go to the red block"


def frame(x, width=0.15):
    return scenes.render(scenes.Scene([scenes.Block("red", x, width)]))


def decide(guard, image, fallback_sets):
    guard.update(fallback_sets=fallback_sets)
    guard.generator.manual_seed(0)
    try:
        return guard.decide(image, INSTRUCTION)
    finally:
        guard.update(fallback_sets="")


@pytest.mark.parametrize("x", [0.29, 0.30, 0.31])
def test_border_frames_certify_the_set_where_the_single_action_stops(builtin_guard, x):
    alone = decide(builtin_guard, frame(x), "")
    with_sets = decide(builtin_guard, frame(x), SETS)
    assert (alone.action, alone.certified) == ("stop", False)
    assert with_sets.certified and with_sets.reason == "certified"
    assert with_sets.action == "move_forward+turn_left"
    assert with_sets.candidate in ("move_forward", "turn_left")
    assert with_sets.radius >= with_sets.radius_threshold
    in_set = with_sets.counts.get("move_forward", 0) + with_sets.counts.get("turn_left", 0)
    p_star = certification.probability_for_radius(with_sets.radius_threshold, with_sets.sigma)
    assert in_set / with_sets.n_samples >= p_star  # the set holds at least p* of the samples


@pytest.mark.parametrize("x,action", [(0.12, "turn_left"), (0.5, "move_forward"), (0.88, "turn_right")])
def test_clear_frames_are_decided_as_without_sets(builtin_guard, x, action):
    alone = decide(builtin_guard, frame(x), "")
    with_sets = decide(builtin_guard, frame(x), SETS)
    assert alone.action == with_sets.action == action and with_sets.certified


def test_no_target_still_stops_because_sets_never_contain_the_safe_action(builtin_guard):
    empty = scenes.render(scenes.Scene([scenes.Block("blue", 0.5, 0.15)]))
    decision = decide(builtin_guard, empty, SETS)
    assert decision.action == "stop" and decision.candidate == "stop"
