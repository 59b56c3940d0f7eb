"""The action vocabulary's rules: fallback-set labels and twists, table validation, the list of reasons."""
import pytest

from rs_vla_guard import actions, params

SETS = "move_forward+turn_left, move_forward+turn_right"


def test_a_set_label_drives_the_mean_of_its_members_twists():
    configured = params.effective({"fallback_sets": SETS})
    assert actions.twist_of(configured, "move_forward+turn_left") == pytest.approx((0.1, 0.3))
    assert actions.twist_of(configured, "move_forward+turn_right") == pytest.approx((0.1, -0.3))
    assert actions.twist_of(configured, "turn_left") == pytest.approx((0.0, 0.6))
    assert actions.members_of(configured, "move_forward+turn_left") == ["move_forward", "turn_left"]


@pytest.mark.parametrize("value,message", [
    ("move_forward", "two or more distinct actions"),
    ("move_forward+move_forward", "two or more distinct actions"),
    ("move_forward+stop", "safe action may not be a member"),
    ("move_forward+fly", "fly not among actions"),
    ("move_forward+turn_left,", "empty set"),
    ("move_forward+turn_left, turn_left+move_forward", "listed twice"),
    (3, "expected a non-empty string"),
])
def test_malformed_sets_are_rejected_with_the_reason(value, message):
    with pytest.raises(params.ConfigError, match="fallback_sets: .*" + message):
        params.effective({"fallback_sets": value})


def test_the_safe_action_must_be_a_zero_twist_and_no_twist_may_exceed_its_cap():
    problems = actions.problems({**params.defaults(), "action_linear_x": [0.2, 0.0, 0.0, 0.1]})
    assert problems == ["action_linear_x: the safe action 'stop' must be a zero twist, got 0.1"]
    problems = actions.problems({**params.defaults(), "action_angular_z": [0.0, 3.0, -0.6, 0.0]})
    assert problems == ["action_angular_z: exceeds max_angular_speed=2.0: turn_left=3.0"]


def test_twists_are_capped_by_the_speed_limits():
    p = {**params.defaults(), "max_linear_speed": 0.1}
    assert actions.capped(p, 0.5, -9.0) == (0.1, -2.0)
    assert actions.twist_of({**params.defaults(), "action_linear_x": [0.3, 0, 0, 0], "max_linear_speed": 1.0},
                            "move_forward") == (0.3, 0.0)


def test_reasons_are_one_list_that_the_certifier_shares():
    from rs_vla_guard import certification

    assert actions.CERTIFIED == certification.CERTIFIED and actions.ABSTAIN == certification.ABSTAIN
    assert actions.DEADLINE_EXCEEDED == certification.OUT_OF_TIME
    assert set(actions.STOP_REASONS) == set(actions.REASONS) - {actions.CERTIFIED}
    assert len(set(actions.REASONS)) == len(actions.REASONS) == 22
