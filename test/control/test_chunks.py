"""What a chunk tube lets the arm execute (control.chunks): the three gates in their order, and a property:
whatever the samples, an executed chunk is inside its tube, the joint limits and the speed bound."""
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rs_vla_guard import actions as A
from rs_vla_guard import settings as P
from rs_vla_guard.certification import certify_tube
from rs_vla_guard.control.chunks import ChunkRules, chunk_record, hold_waypoints
from rs_vla_guard.settings.chunks import parse_joint_limits, parse_tube_limits, tube_limit

JOINTS = ("j1", "j2")


def rules(**changes):
    params = {**P.defaults(), "binning": "chunk", "actions": ["move", "hold"], "safe_action": "hold",
              "state_joints": "j1, j2", "chunk_execute_steps": 3, "chunk_dt_s": 0.1, "chunk_tube_limits": "*: 0.3",
              "joint_limits": "j1: -1 1, j2: -0.5 0.5", "max_joint_speed": 1.0, "max_chunk_duration_s": 1.0, **changes}
    assert P.validate(params) == [], P.validate(params)
    return ChunkRules.from_params(params)


def tube_around(path, spread, n=400, seed=0):
    """A tube over noisy chunks centred on ``path`` (3 x 2)."""
    noise = np.random.default_rng(seed).normal(0, spread, size=(n, 3, 2))
    return certify_tube(np.asarray(path)[None] + noise, 3, 0.1, 0.25, 0.01, joint_names=JOINTS)


STATE = np.array([0.0, 0.0])
SLOW = np.array([[0.05, 0.02], [0.1, 0.04], [0.15, 0.06]])  # 0.5 rad/s at most


def test_a_narrow_tube_inside_the_limits_executes_the_clamped_median():
    tube = tube_around(SLOW, 0.005)
    reason, waypoints, detail = rules().execute(tube, STATE)
    assert reason is None and detail == ""
    assert np.allclose(waypoints, tube.clamp(tube.median)) and np.abs(waypoints - SLOW).max() < 0.01


def test_the_gates_in_order_too_wide_then_outside_limits_then_too_fast():
    assert rules().execute(tube_around(SLOW, 0.5), STATE)[0] == A.CHUNK_TOO_WIDE
    assert rules(chunk_tube_limits="j1: 0.01, *: 1").execute(tube_around(SLOW, 0.02), STATE)[2].startswith("j1:")
    beyond = SLOW + [0.0, 0.47]  # j2 past its upper limit 0.5
    reason, _, detail = rules().execute(tube_around(beyond, 0.005), STATE + [0.0, 0.45])
    assert reason == A.JOINT_LIMIT and "j2" in detail and "outside" in detail
    # the first waypoint is 0.05 from the measured state at 0.1 s: 0.5 rad/s; from 0.3 away it is 3.5 rad/s
    reason, _, detail = rules().execute(tube_around(SLOW, 0.005), STATE - [0.3, 0.0])
    assert reason == A.JOINT_LIMIT and "faster than max_joint_speed" in detail
    # too wide wins over too fast
    assert rules().execute(tube_around(SLOW, 0.5), STATE - [0.3, 0.0])[0] == A.CHUNK_TOO_WIDE


def test_too_few_samples_to_bound_the_tube_is_too_wide():
    tube = certify_tube(np.zeros((5, 3, 2)), 3, 0.25, 0.25, 0.001, joint_names=JOINTS)
    assert not np.isfinite(tube.low).all()
    assert rules(chunk_tube_limits="*: 100").execute(tube, STATE)[0] == A.CHUNK_TOO_WIDE


@settings(max_examples=80, deadline=None)
@given(offset=st.lists(st.floats(-1.5, 1.5), min_size=2, max_size=2), spread=st.floats(0.0, 0.3),
       step=st.floats(-0.3, 0.3), seed=st.integers(0, 1000), speed=st.floats(0.1, 3.0))
def test_an_executed_chunk_is_always_inside_its_tube_the_limits_and_the_speed_bound(offset, spread, step, seed, speed):
    path = np.asarray(offset) + step * np.arange(1, 4)[:, None]
    tube = tube_around(path, spread, n=200, seed=seed)
    chosen = rules(max_joint_speed=speed)
    reason, waypoints, _ = chosen.execute(tube, np.asarray(offset))
    if reason is not None:
        assert reason in (A.CHUNK_TOO_WIDE, A.JOINT_LIMIT)
        return
    assert ((waypoints >= tube.low) & (waypoints <= tube.high)).all()
    assert (tube.widths.max(axis=0) <= 0.3).all()
    assert (waypoints[:, 0] >= -1).all() and (waypoints[:, 0] <= 1).all()
    assert (np.abs(waypoints[:, 1]) <= 0.5).all()
    moves = np.diff(np.vstack([np.asarray(offset)[None], waypoints]), axis=0)
    assert (np.abs(moves) <= speed * 0.1 * (1 + 1e-9)).all()


def test_records_are_json_ready_and_a_hold_is_one_point_at_the_state():
    tube = certify_tube(np.zeros((5, 3, 2)), 3, 0.25, 0.25, 0.001, joint_names=JOINTS)
    record = chunk_record(hold_waypoints([0.1, 0.2]), tube, 0.1, JOINTS, hold_waypoints([0.1, 0.2]))
    assert record["waypoints"] == [[0.1, 0.2]] and record["hold"] == [[0.1, 0.2]]
    assert record["tube"][0][0] == [None, None] and record["joint_names"] == list(JOINTS)


def test_chunk_parameters_parse_and_refuse_what_cannot_bind():
    assert parse_joint_limits("a: -1 1, b: 0 2.5") == {"a": (-1.0, 1.0), "b": (0.0, 2.5)}
    assert tube_limit(parse_tube_limits("a: 0.1, *: 0.3"), "b") == 0.3 and tube_limit({}, "b") == math.inf
    base = {**P.defaults(), "binning": "chunk", "actions": ["move", "hold"], "safe_action": "hold"}
    for bad, says in (({"joint_limits": "a: 1 -1"}, "lower < upper"), ({"joint_limits": "a: -1 nan"}, "finite"),
                      ({"joint_limits": "a: -1 1, a: 0 1"}, "twice"), ({"chunk_tube_limits": "a: -0.1"}, "chunk_tube"),
                      ({"chunk_execute_steps": 20, "chunk_dt_s": 0.1}, "longer than max_chunk_duration_s"),
                      ({"chunk_execute_steps": 5, "binning": "base", "actions": P.defaults()["actions"],
                        "safe_action": "stop"}, "needs binning chunk")):
        problems = P.validate({**base, **bad})
        assert any(says in p for p in problems), (bad, problems)
    # the tube's coordinates share alpha with the class test
    assert P.decision_hypotheses({**base, "chunk_execute_steps": 5}, dimensions=4) == 21
