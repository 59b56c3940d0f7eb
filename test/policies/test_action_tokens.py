"""The action-token adapter (OpenVLA / RT-2 style VLAs): token <-> value codecs, and batched decoding of the
whole noisy batch equal, token for token, to per-image ``generate`` restricted to the action tokens, on tiny
LLaVA and PaliGemma models built from configs and loaded back with ``from_pretrained``."""
import json
import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rs_vla_guard.guard import Guard
from rs_vla_guard.policies import factory
from rs_vla_guard.policies.action_tokens import ActionTokenCodec
from rs_vla_guard.policies.base import PolicyError
from rs_vla_guard.tasks import blocks
from tiny_vlms import (per_image_generate, save_tiny_llava_with_action_tokens,
                       save_tiny_paligemma_with_action_tokens)

NAMES = ["linear_x", "angular_z", "gripper"]
STATS = {"actions": {"q01": [0.0, -0.8, 0.0], "q99": [0.3, 0.8, 1.0], "mask": [True, True, False]},
         "names": NAMES, "action_tokens": {"bins": 256, "scheme": "uniform"}}


# ---------------------------------------------------------------- codecs (no model)

@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["uniform", "openvla"]), st.integers(2, 512), st.integers(0, 5000))
def test_every_action_token_decodes_into_minus_one_one_and_encodes_back(scheme, bins, extra):
    codec = ActionTokenCodec(bins, bins + extra, scheme)
    ids = torch.arange(codec.first, codec.vocab_end)
    values = codec.values(ids)
    assert bool(((values >= -1) & (values <= 1)).all())
    if scheme == "uniform":
        assert torch.equal(codec.tokens(values), ids) and bool((values.diff() > 0).all())
    else:  # OpenVLA: the lowest id (a = 1 exactly) shares the top centre with the next; the others round-trip
        assert torch.equal(codec.tokens(values)[1:], ids[1:]) and bool((values.diff() <= 0).all())


def test_the_openvla_scheme_is_openvlas_numpy_arithmetic():
    vocab_size, rng = 32000, np.random.default_rng(0)
    actions = rng.uniform(-1.2, 1.2, 1000)
    bins = np.linspace(-1, 1, 256)
    centres = (bins[:-1] + bins[1:]) / 2.0
    tokens = vocab_size - np.digitize(np.clip(actions, -1, 1), bins)  # OpenVLA's ActionTokenizer
    decoded = centres[np.clip(vocab_size - tokens - 1, 0, centres.shape[0] - 1)]  # its decode_token_ids_to_actions
    codec = ActionTokenCodec(256, vocab_size, "openvla")
    assert np.array_equal(codec.tokens(torch.tensor(actions, dtype=torch.float32)).numpy(), tokens)
    assert np.allclose(codec.values(torch.tensor(tokens)).numpy(), decoded, atol=1e-6)


def test_bad_codec_settings_are_refused():
    with pytest.raises(PolicyError, match="scheme"):
        ActionTokenCodec(256, 1000, "rt2")
    with pytest.raises(PolicyError, match="bins"):
        ActionTokenCodec(256, 100)


# ---------------------------------------------------------------- tiny models of two families

def with_stats(path, stats=STATS):
    with open(os.path.join(path, "action_stats.json"), "w") as handle:
        json.dump(stats, handle)
    return str(path)


@pytest.fixture(scope="module", params=["llava", "paligemma"])
def token_model_dir(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"tokens_{request.param}")
    save = save_tiny_llava_with_action_tokens if request.param == "llava" else save_tiny_paligemma_with_action_tokens
    return with_stats(save(folder))


@pytest.mark.model
def test_batched_decoding_equals_per_image_generate_token_for_token(token_model_dir):
    guard = Guard.from_config({"policy": token_model_dir, "allow_blind_policy": True, "dtype": "float32"})
    policy = guard.policy
    assert type(policy).__name__ == "ActionTokenVLM" and guard.mode == "action"
    assert factory.detect_type(token_model_dir) == "tokens"
    generator = torch.Generator().manual_seed(5)
    clean = torch.rand(3, *policy.input_size, generator=generator)
    pixels = (clean[None] + 0.5 * torch.randn(12, 3, *policy.input_size, generator=generator))
    for instruction in ("go to the red block", "turn left please"):
        batched = policy.decode(pixels, instruction)
        assert batched.shape == (12, 3)
        assert torch.equal(batched, per_image_generate(policy, pixels, instruction))
        assert len(set(map(tuple, batched.tolist()))) > 1  # the images do move the tokens
        actions = policy.act(pixels, instruction)
        assert actions.shape == (12, 1, 3)
        values = policy.codec.values(batched)
        expected = torch.stack([values[:, 0] * 0.15 + 0.15, values[:, 1] * 0.8, values[:, 2]], -1)  # q01/q99, mask
        assert torch.allclose(actions[:, 0], expected, atol=1e-6)


@pytest.mark.model
def test_a_configured_prompt_replaces_the_instruction_and_keeps_the_image_first(tmp_path):
    path = with_stats(save_tiny_llava_with_action_tokens(tmp_path / "m"))
    prompt = "In: What action should the robot take to {instruction}?\nOut:"
    guard = Guard.from_config({"policy": path, "allow_blind_policy": True, "action_prompt": prompt, "dtype": "float32"})
    text = guard.policy.prompt_text("go to the red block")
    assert text == "<image>In: What action should the robot take to go to the red block?\nOut:"
    decision = guard.decide(blocks.render(blocks.Scene([blocks.Block("red", 0.2, 0.2)])), "go to the red block")
    assert decision.mode == "action" and decision.n_samples > 0


@pytest.mark.model
def test_action_token_models_that_do_not_fit_their_statistics_are_refused_with_the_reason(tmp_path):
    path = save_tiny_llava_with_action_tokens(tmp_path / "m")
    with_stats(path, {**STATS, "action_tokens": {"bins": 256, "vocab_end": 10_000}})
    with pytest.raises(PolicyError, match="action tokens end at id 10000"):
        Guard.from_config({"policy": str(path), "allow_blind_policy": True})
    with_stats(path, {**STATS, "names": ["only_one"]})
    with pytest.raises(PolicyError, match="1 names for 3 action dimensions"):
        Guard.from_config({"policy": str(path), "allow_blind_policy": True})
    os.remove(os.path.join(path, "action_stats.json"))
    assert factory.detect_type(str(path)) == "vlm"
    with pytest.raises(PolicyError, match="not an action-token model"):
        Guard.from_config({"policy": str(path), "policy_type": "tokens", "allow_blind_policy": True})
