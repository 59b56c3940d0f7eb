"""The built-in pi0 on rendered scenes it was not trained on (acceptance of the continuous-actions issue):
candidates right, certified right, never certified wrong, and the colour word followed.

Held-out scenes come from a seed the training script never uses; "clear" means the target centre is at
least 0.05 W from the 0.35/0.65 borders and its width at least 0.05 W from 0.4 W (as for the built-in VLM).
"""
import zlib

import numpy as np
import pytest
import torch

from rs_vla_guard.guard import Guard
from rs_vla_guard.sampling import frame_to_input
from rs_vla_guard.tasks import blocks
from heldout import heldout_frames

pytestmark = pytest.mark.model
HELDOUT_SEED = 20261124
SCENES = 200


@pytest.fixture(scope="module")
def guard():
    return Guard.from_config({"policy": "builtin-pi0"})


def heldout(count=SCENES, seed=HELDOUT_SEED):
    return heldout_frames(count, seed)


def test_it_loads_through_the_pi0_adapter_as_a_continuous_policy(guard):
    assert guard.mode == "action" and guard.policy.action_names == ["linear_x", "angular_z"]
    assert type(guard.policy).__name__ == "PI0Policy" and guard.policy.model_id.startswith("builtin_pi0@")


def test_candidates_on_clear_heldout_scenes(guard):
    correct = 0
    for frame, instruction, action in heldout(400, HELDOUT_SEED + 1):
        pixels = torch.from_numpy(frame_to_input(frame, guard.policy.input_size))[None]
        correct += guard.actions[int(guard.classifier(instruction)(pixels)[0])] == action
    print(f"candidates right: {correct}/400")
    assert correct / 400 >= 0.95


def test_certified_decisions_at_the_defaults(guard):
    results = [(guard.decide(frame, instruction), action) for frame, instruction, action in heldout()]
    right = sum(d.certified and d.action == a for d, a in results)
    wrong = sum(d.certified and d.action != a for d, a in results)
    print(f"certified right {right}/{SCENES}, wrong {wrong}, mean samples "
          f"{np.mean([d.n_samples for d, _ in results]):.1f}")
    assert wrong == 0 and right / SCENES >= 0.85


@pytest.mark.parametrize("present,asked", [("red", "blue"), ("blue", "green"), ("green", "red")])
def test_it_follows_the_colour_word_not_any_block(guard, present, asked):
    rng = np.random.default_rng(zlib.crc32(f"{present}-{asked}".encode()))  # str hash() varies per run
    stops = 0
    for _ in range(20):
        block = blocks.Block(present, float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.1, 0.3)))
        frame = blocks.render(blocks.Scene([block], floor=str(rng.choice(["plain", "textured"]))))
        pixels = torch.from_numpy(frame_to_input(frame, guard.policy.input_size))[None]
        stops += guard.actions[int(guard.classifier(blocks.instruction_for(asked))(pixels)[0])] == "stop"
    assert stops >= 18


def test_the_training_script_is_deterministic_for_a_seed_and_saves_a_loadable_pi0(tmp_path):
    from rs_vla_guard.training import builtin_pi0 as train
    from rs_vla_guard import params as P
    from rs_vla_guard.policies.factory import make_policy

    for name in ("a", "b"):
        train.main(["--steps", "3", "--batch-size", "8", "--seed", "5", "--eval-scenes", "20", "--out", str(tmp_path / name)])
    first, second = ((tmp_path / n / "model.safetensors").read_bytes() for n in ("a", "b"))
    assert first == second
    report = (tmp_path / "a" / "training_report.json").read_text()
    assert '"steps": 3' in report and '"seed": 5' in report
    policy = make_policy({**P.defaults(), "policy": str(tmp_path / "a")}, torch.device("cpu"))
    actions = policy.act(torch.rand(2, 3, *policy.input_size), "go to the red block",
                         generator=torch.Generator().manual_seed(0))
    assert actions.shape[0] == 2 and actions.shape[-1] == 2 and torch.isfinite(actions).all()
