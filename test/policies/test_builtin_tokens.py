"""The built-in action-token policy on rendered scenes it was not trained on (acceptance of the action-token
issue): batched decoding equal to per-image decoding, certified right on >= 85% of clear held-out scenes,
never certified wrong, and its envelopes.

Held-out scenes come from a seed the training script never uses; "clear" means the target centre is at
least 0.05 W from the 0.35/0.65 borders and its width at least 0.05 W from 0.4 W.
"""
import numpy as np
import pytest
import torch

from rs_vla_guard.guard import Guard
from rs_vla_guard.sampling import frame_to_input
from rs_vla_guard.tasks import blocks
from heldout import heldout_frames
from tiny_vlms import per_image_generate

pytestmark = pytest.mark.model
HELDOUT_SEED = 20261125
SCENES = 200


@pytest.fixture(scope="module")
def guard():
    return Guard.from_config({"policy": "builtin-tokens", "dtype": "float32"})  # exact comparisons


def heldout(count=SCENES, seed=HELDOUT_SEED):
    return heldout_frames(count, seed)


def test_it_loads_through_the_action_token_adapter(guard):
    policy = guard.policy
    assert type(policy).__name__ == "ActionTokenVLM" and guard.mode == "action"
    assert policy.action_names == ["linear_x", "angular_z"] and policy.codec.bins == 256
    assert policy.codec.vocab_end == len(policy.tokenizer) and policy.model_id.startswith("builtin_tokens@")


def test_batched_decoding_equals_per_image_decoding_on_noisy_heldout_frames(guard):
    policy = guard.policy
    generator = torch.Generator().manual_seed(0)
    for frame, instruction, _ in heldout(6, HELDOUT_SEED + 2):
        clean = torch.from_numpy(frame_to_input(frame, policy.input_size))
        pixels = clean[None] + 0.25 * torch.randn(16, *clean.shape, generator=generator)
        assert torch.equal(policy.decode(pixels, instruction), per_image_generate(policy, pixels, instruction))


def test_certified_decisions_at_the_defaults(guard):
    results = [(guard.decide(frame, instruction), action) for frame, instruction, action in heldout()]
    right = sum(d.certified and d.action == a for d, a in results)
    wrong = sum(d.certified and d.action != a for d, a in results)
    print(f"certified right {right}/{SCENES}, wrong {wrong}, mean samples "
          f"{np.mean([d.n_samples for d, _ in results]):.1f}")
    assert wrong == 0 and right / SCENES >= 0.85


def test_it_follows_the_colour_word():
    guard = Guard.from_config({"policy": "builtin-tokens"})
    scene = blocks.Scene([blocks.Block("red", 0.15, 0.2), blocks.Block("blue", 0.85, 0.2)])
    frame = blocks.render(scene)
    assert guard.decide(frame, "go to the red block").action == "turn_left"
    assert guard.decide(frame, "go to the blue block").action == "turn_right"
    assert guard.decide(frame, "go to the green block").action == "stop"


def test_its_median_command_and_envelopes(guard):
    median = Guard.from_config({"policy": "builtin-tokens", "continuous_command": "median",
                                "certify_target": "both", "envelope_limits": "angular_z: 0.3"})
    frame = blocks.render(blocks.Scene([blocks.Block("red", 0.12, 0.2)]))
    decision = median.decide(frame, "go to the red block")
    yaw = decision.envelopes[1]
    assert decision.certified and decision.action == "turn_left"
    assert 0.4 <= decision.twist[1] <= 0.8 and yaw["low"] <= decision.twist[1] <= yaw["high"] and yaw["width"] <= 0.3


def test_the_training_script_is_deterministic_for_a_seed_and_saves_a_loadable_action_token_model(tmp_path):
    from rs_vla_guard import params as P
    from rs_vla_guard.training import builtin_tokens as train
    from rs_vla_guard.policies.factory import detect_type, make_policy

    for name in ("a", "b"):
        train.main(["--steps", "3", "--batch-size", "8", "--seed", "5", "--eval-scenes", "10",
                    "--out", str(tmp_path / name)])
    first, second = ((tmp_path / n / "model.safetensors").read_bytes() for n in ("a", "b"))
    assert first == second
    report = (tmp_path / "a" / "training_report.json").read_text()
    assert '"steps": 3' in report and '"seed": 5' in report
    assert detect_type(str(tmp_path / "a")) == "tokens"
    policy = make_policy({**P.defaults(), "policy": str(tmp_path / "a")}, torch.device("cpu"))
    tokens = policy.decode(torch.rand(2, 3, *policy.input_size), "go to the red block")
    assert tokens.shape == (2, 2) and bool((tokens >= len(policy.tokenizer) - 256).all())
    assert policy.act(torch.rand(2, 3, *policy.input_size), "go to the red block").shape == (2, 1, 2)
