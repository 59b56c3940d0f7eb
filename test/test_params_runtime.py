"""Runtime parameter changes (what the node accepts while configured): property tests over sequences of
changes. Whatever sequence an operator or an attacker on the graph sends, no accepted configuration
commands a twist beyond the caps configured, or certifies under looser limits than configured."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rs_vla_guard import actions, params

SETS = "move_forward+turn_left, move_forward+turn_right"
table = st.lists(st.floats(-12.0, 12.0, allow_nan=False), min_size=4, max_size=4)
change = st.one_of(
    st.fixed_dictionaries({"max_linear_speed": st.floats(0.0, 10.0)}),
    st.fixed_dictionaries({"max_angular_speed": st.floats(0.0, 20.0)}),
    st.fixed_dictionaries({"action_linear_x": table.map(lambda t: [t[0], 0.0, 0.0, 0.0])}),
    st.fixed_dictionaries({"action_angular_z": table.map(lambda t: [0.0, t[1], t[2], 0.0])}),
    st.fixed_dictionaries({"action_linear_x": table, "action_angular_z": table}),
    st.fixed_dictionaries({"fallback_sets": st.sampled_from(["", SETS])}),
    st.fixed_dictionaries({"radius_threshold": st.floats(0.0, 0.4)}),
    st.fixed_dictionaries({"alpha": st.floats(1e-4, 0.2)}),
    st.fixed_dictionaries({"image_timeout_s": st.floats(0.05, 5.0)}),
    st.fixed_dictionaries({"oracle_error": st.floats(0.0, 0.05)}),
    st.fixed_dictionaries({"symmetric_oracle": st.booleans()}),
    st.fixed_dictionaries({"safe_action": st.sampled_from(list(actions.DEFAULT_ACTIONS))}),
)


@settings(max_examples=300, deadline=None)
@given(caps=st.tuples(st.floats(0.2, 1.0), st.floats(0.6, 2.0)), sequence=st.lists(change, max_size=12))
def test_no_accepted_change_commands_past_the_configured_caps_or_loosens_a_limit(caps, sequence):
    configured = params.effective({"max_linear_speed": caps[0], "max_angular_speed": caps[1]})
    current = configured
    for changes in sequence:
        try:
            current = params.runtime_change(configured, current, changes)
        except params.ConfigError as error:
            assert error.problems
            continue
        for label in current["actions"] + [actions.set_label(s) for s in actions.fallback_sets(current)]:
            linear, angular = actions.twist_of(current, label)
            assert abs(linear) <= caps[0] + 1e-12 and abs(angular) <= caps[1] + 1e-12
        assert (current["max_linear_speed"], current["max_angular_speed"]) == caps
        assert current["radius_threshold"] >= configured["radius_threshold"]
        assert current["alpha"] <= configured["alpha"] and current["oracle_error"] >= configured["oracle_error"]
        assert current["image_timeout_s"] <= configured["image_timeout_s"]
        assert not current["symmetric_oracle"]


@pytest.mark.parametrize("changes,message", [
    ({"max_linear_speed": 3.0}, "max_linear_speed: read-only"),
    ({"action_linear_x": [0.5, 0.0, 0.0, 0.0]}, "exceeds max_linear_speed=0.3"),
    ({"radius_threshold": 0.2}, "below the 0.25 configured"),
    ({"alpha": 0.01}, "above the 0.001 configured"),
    ({"image_timeout_s": 2.0}, "above the 0.5 configured"),
    ({"symmetric_oracle": True}, "may not be switched on"),
    ({"policy": "/elsewhere"}, "policy: read-only"),
])
def test_loosening_changes_are_refused_with_the_reason(changes, message):
    configured = params.effective({"max_linear_speed": 0.3, "action_linear_x": [0.2, 0.0, 0.0, 0.0]})
    with pytest.raises(params.ConfigError, match=message):
        params.runtime_change(configured, configured, changes)


def test_tightening_changes_are_accepted():
    configured = params.defaults()
    tighter = params.runtime_change(configured, configured, {"radius_threshold": 0.3, "alpha": 0.0005,
                                                             "image_timeout_s": 0.3})
    assert (tighter["radius_threshold"], tighter["alpha"], tighter["image_timeout_s"]) == (0.3, 0.0005, 0.3)
    assert params.runtime_change(configured, tighter, {"radius_threshold": 0.25})["radius_threshold"] == 0.25
