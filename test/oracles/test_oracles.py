"""Oracles: text and continuous commands to action indices; anything ambiguous maps to -1."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rs_vla_guard.oracles import UNMAPPED, BinningOracle, KeywordOracle

ACTIONS = ["move_forward", "turn_left", "turn_right", "stop"]


@pytest.mark.parametrize("text,action", [
    ("move forward", "move_forward"), ("Move Forward.", "move_forward"), ("MOVE_FORWARD", "move_forward"),
    ("go straight ahead", "move_forward"), ("turn left", "turn_left"), ("Turn-left!", "turn_left"),
    ("rotate right", "turn_right"), ("STOP", "stop"), ("halt.", "stop"), ("  stop  ", "stop"),
])
def test_keyword_oracle_maps_phrases_synonyms_case_and_punctuation(text, action):
    assert KeywordOracle(ACTIONS).label(text) == ACTIONS.index(action)


@pytest.mark.parametrize("text", ["", "dance", "blue block", "turn left then stop", "leftover", "stopwatch"])
def test_keyword_oracle_returns_unmapped_for_unknown_or_ambiguous_text(text):
    assert KeywordOracle(ACTIONS).label(text) == UNMAPPED


def test_keyword_oracle_batches_and_custom_phrases():
    oracle = KeywordOracle(["grasp", "stop"], phrases={"grasp": ["take it"]})
    assert oracle(["take it", "stop", "what"]).tolist() == [0, 1, UNMAPPED]
    assert oracle.canonical_phrases() == ["take it", "stop"]
    assert KeywordOracle(ACTIONS).canonical_phrases() == ["move forward", "turn left", "turn right", "stop"]


def test_binning_oracle_rules():
    oracle = BinningOracle(ACTIONS)
    commands = np.array([[0.0, 0.0], [0.01, 0.05], [0.2, 0.0], [0.0, 0.5], [0.05, -0.6], [-0.3, 0.0], [0.2, 0.1]])
    expected = ["stop", "stop", "move_forward", "turn_left", "turn_right", "stop", "move_forward"]
    assert [ACTIONS[i] for i in oracle(commands)] == expected
    assert oracle(torch.tensor(commands, dtype=torch.float32)).tolist() == oracle(commands).tolist()


def test_binning_oracle_gripper_and_backward():
    oracle = BinningOracle(ACTIONS + ["move_backward", "grasp"], gripper_index=2)
    labels = oracle(np.array([[-0.3, 0.0, 0.0], [0.0, 0.0, 0.9]]))
    assert [oracle.actions[i] for i in labels] == ["move_backward", "grasp"]


def test_binning_oracle_needs_stop():
    with pytest.raises(ValueError, match="stop"):
        BinningOracle(["move_forward"])


@given(st.floats(-2, 2), st.floats(-3, 3))
def test_binning_oracle_is_total_and_symmetric_in_yaw(linear, angular):
    oracle = BinningOracle(ACTIONS)
    left, right = oracle(np.array([[linear, angular], [linear, -angular]]))
    assert 0 <= left < len(ACTIONS) and 0 <= right < len(ACTIONS)
    mirror = {"turn_left": "turn_right", "turn_right": "turn_left"}
    assert ACTIONS[right] == mirror.get(ACTIONS[left], ACTIONS[left])


def test_binning_oracle_labels_single_twists_by_name():
    oracle = BinningOracle(ACTIONS)
    assert oracle.label_of(0.0, 0.45) == "turn_left" and oracle.label_of(0.15, 0.0) == "move_forward"
    assert oracle.label_of(0.0, 0.0) == "stop"
    assert BinningOracle(["stop", "grasp"]).label_of(0.3, 0.0) is None  # a motion this vocabulary lacks


def test_make_oracle_picks_binning_for_vectors_and_keywords_for_text():
    from rs_vla_guard import params
    from rs_vla_guard.oracles import make_oracle

    config = params.defaults()
    assert isinstance(make_oracle("action", config), BinningOracle)
    assert isinstance(make_oracle("score", config), KeywordOracle)
    assert isinstance(make_oracle("generate", config), KeywordOracle)
    assert make_oracle("action", config, ["angular_z", "linear_x"]).index["linear_x"] == 1  # the policy's own names


ARM = ["move_x_pos", "move_x_neg", "move_y_pos", "move_y_neg", "move_z_pos", "move_z_neg", "open_gripper",
       "close_gripper", "hold"]


def test_arm_binning_dominant_axis_gripper_and_hold():
    oracle = BinningOracle(ARM, kind="arm")
    vectors = np.array([[0.05, 0.01, 0.0, 0.0], [0.0, -0.03, 0.01, 0.0], [0.002, 0.0, 0.0, 0.1],
                        [0.05, 0.0, 0.0, 0.9], [0.0, 0.0, 0.0, -0.7], [0.0, 0.0, 0.04, 0.0]])
    expected = ["move_x_pos", "move_y_neg", "hold", "close_gripper", "open_gripper", "move_z_pos"]
    assert [ARM[i] for i in oracle(vectors)] == expected
    assert oracle(torch.tensor(vectors)).tolist() == oracle(vectors).tolist()


def test_chunks_are_averaged_over_the_first_steps_and_non_finite_rows_are_unmapped():
    oracle = BinningOracle(ACTIONS, chunk_steps=2)
    chunks = np.array([[[0.2, 0.0], [0.2, 0.0], [0.0, 0.9]],  # first two steps: forward
                       [[0.0, 0.5], [0.0, 0.5], [0.2, 0.0]],
                       [[np.nan, 0.0], [0.2, 0.0], [0.2, 0.0]]])
    assert oracle(chunks).tolist() == [0, 1, UNMAPPED]
    assert oracle(torch.tensor(chunks)).tolist() == [0, 1, UNMAPPED]


@given(st.sampled_from(ACTIONS), st.lists(st.floats(-3, 3), min_size=2, max_size=2))
def test_clamping_into_a_class_bin_lands_in_that_class(action, vector):
    oracle = BinningOracle(ACTIONS)
    clamped = oracle.clamp(vector, action)
    assert ACTIONS[int(oracle(np.array([clamped]))[0])] == action
    if ACTIONS[int(oracle(np.array([vector]))[0])] == action and action != "stop":
        assert clamped == pytest.approx(vector)  # already inside a motion's bin: unchanged
    if action == "stop":
        assert clamped == [0.0, 0.0]  # a stop executes no motion


@given(st.sampled_from(ARM), st.lists(st.floats(-1, 1), min_size=4, max_size=4))
def test_clamping_into_an_arm_bin_lands_in_that_class(action, vector):
    oracle = BinningOracle(ARM, kind="arm")
    assert ARM[int(oracle(np.array([oracle.clamp(vector, action)]))[0])] == action


@pytest.mark.parametrize("kind,actions", [("base", ACTIONS), ("arm", ARM)])
def test_class_scores_point_the_way_to_each_bin(kind, actions):
    oracle = BinningOracle(actions, kind=kind)
    rng = np.random.default_rng(0)
    vectors = torch.tensor(rng.normal(0, 0.3 if kind == "base" else 0.05, (500, len(oracle.dimensions))))
    scores = oracle.scores(vectors)
    agree = (scores.argmax(-1) == torch.as_tensor(oracle(vectors))).float().mean()
    assert agree > 0.9  # a surrogate: it ranks the binned class first almost everywhere
