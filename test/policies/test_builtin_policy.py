"""The built-in policy on rendered scenes it was not trained on (acceptance of the foundation issue).

Held-out scenes come from a seed the training script never uses; "clear" means the target centre is
at least 0.05 W from the 0.35/0.65 borders and its width at least 0.05 W from 0.4 W.
"""
import zlib

import numpy as np
import pytest
import torch

from rs_vla_guard.tasks import blocks as scenes
from rs_vla_guard.sampling import frame_to_input
from heldout import heldout_frames

pytestmark = pytest.mark.model

HELDOUT_SEED = 20261122
SCENES = 200


def heldout(count=SCENES, seed=HELDOUT_SEED):
    return heldout_frames(count, seed)


def test_clean_accuracy_on_clear_heldout_scenes(builtin_guard):
    guard = builtin_guard
    correct = 0
    for frame, instruction, action in heldout(400, HELDOUT_SEED + 1):
        pixels = torch.from_numpy(frame_to_input(frame, guard.policy.input_size)).unsqueeze(0)
        correct += guard.actions[int(guard.classifier(instruction)(pixels)[0])] == action
    assert correct / 400 >= 0.97


def test_certified_decisions_at_the_defaults(builtin_guard):
    guard = builtin_guard
    assert guard.params["sigma"] == 0.25 and guard.params["n_max"] == 256
    results = [(guard.decide(frame, instruction), action) for frame, instruction, action in heldout()]
    certified_correct = sum(d.certified and d.action == a for d, a in results)
    certified_wrong = sum(d.certified and d.action != a for d, a in results)
    mean_samples = np.mean([d.n_samples for d, _ in results])
    print(f"certified correct {certified_correct}/{SCENES}, wrong {certified_wrong}, mean samples {mean_samples:.1f}")
    assert certified_wrong == 0
    assert certified_correct / SCENES >= 0.90
    assert mean_samples <= 96
    for decision, _ in results:
        if decision.certified:
            assert decision.radius >= 0.25 and sum(decision.counts.values()) == decision.n_samples


@pytest.mark.parametrize("present,asked", [("red", "blue"), ("blue", "green"), ("green", "red")])
def test_policy_follows_the_colour_word_not_any_block(builtin_guard, present, asked):
    # The only block is of another colour: the instruction's target is absent, so the answer is stop.
    rng = np.random.default_rng(zlib.crc32(f"{present}-{asked}".encode()))  # str hash() varies per run
    stops = 0
    for _ in range(20):
        block = scenes.Block(present, float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.1, 0.3)))
        frame = scenes.render(scenes.Scene([block], floor=str(rng.choice(["plain", "textured"]))))
        pixels = torch.from_numpy(frame_to_input(frame, builtin_guard.policy.input_size)).unsqueeze(0)
        stops += builtin_guard.actions[int(builtin_guard.classifier(scenes.instruction_for(asked))(pixels)[0])] == "stop"
    assert stops >= 19


def test_builtin_passes_the_sensitivity_check(builtin_guard):
    changes = builtin_guard.check_sensitivity()
    assert changes["image_change"] > 0.5 and changes["instruction_change"] > 0.5
