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
    from rs_vla_guard.oracles import make_oracle

    assert isinstance(make_oracle("action", ACTIONS), BinningOracle)
    assert isinstance(make_oracle("score", ACTIONS), KeywordOracle)
    assert isinstance(make_oracle("generate", ACTIONS), KeywordOracle)
