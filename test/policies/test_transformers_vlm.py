"""The transformers VLM adapter on tiny LLaVA and Idefics3 models loaded with from_pretrained."""
import os

import numpy as np
import pytest
import torch

from rs_vla_guard.guard import BlindPolicyError, Guard
from rs_vla_guard.policies.base import Policy, PolicyError
from rs_vla_guard.policies.transformers_vlm import TransformersVLM

pytestmark = pytest.mark.model

PHRASES = ["move forward", "turn left", "turn right", "stop"]
CPU = torch.device("cpu")


def full_sequence_scores(policy, pixels, instruction, phrases):
    """Reference: each phrase appended to the prompt and scored from scratch."""
    prepared = policy._prepare(instruction)
    extra = {k: v.expand(len(pixels), *v.shape[1:]) for k, v in prepared.static.items()
             if k not in ("input_ids", "attention_mask")}
    out = []
    for phrase in phrases:
        ids = policy.tokenizer(phrase, add_special_tokens=False).input_ids + [policy.tokenizer.eos_token_id]
        full = torch.cat([prepared.static["input_ids"].expand(len(pixels), -1),
                          torch.tensor(ids).expand(len(pixels), -1)], 1)
        with torch.no_grad():
            logp = policy.model(input_ids=full, pixel_values=policy._pixel_values(pixels, prepared),
                                **extra).logits.log_softmax(-1)
        length = prepared.prompt_length
        out.append(sum(logp[:, length - 1 + i, t] for i, t in enumerate(ids)))
    return torch.stack(out, 1)


@pytest.mark.parametrize("fixture", ["tiny_llava_dir", "tiny_idefics3_dir"])
def test_score_mode_equals_scoring_each_phrase_from_scratch(fixture, request):
    policy = TransformersVLM.from_pretrained(request.getfixturevalue(fixture), device=CPU, dtype="float32")
    assert isinstance(policy, Policy)
    pixels = torch.rand(3, 3, *policy.input_size, generator=torch.Generator().manual_seed(0))
    reference = full_sequence_scores(policy, pixels, "go to the red block", PHRASES)
    # The first call checks the shared-prefix tree layout against the plain one; later calls use the tree.
    for _ in range(2):
        scores = policy.score(pixels, "go to the red block", PHRASES)
        assert scores.shape == (3, 4)
        torch.testing.assert_close(scores, reference, rtol=1e-4, atol=1e-4)
    assert policy._tree_checked[tuple(PHRASES)], "the tree layout should be exact on this architecture"
    assert policy._prepared["go to the red block"].prefix_kv is not None  # text before the image is cached


def test_phrases_sharing_tokens_and_of_different_lengths_score_exactly(tiny_llava_dir):
    policy = TransformersVLM.from_pretrained(tiny_llava_dir, device=CPU, dtype="float32")
    phrases = ["turn", "turn left", "turn left please", "go to the block", "stop", "left"]
    pixels = torch.rand(2, 3, *policy.input_size, generator=torch.Generator().manual_seed(1))
    reference = full_sequence_scores(policy, pixels, "find the blue block", phrases)
    for _ in range(2):
        torch.testing.assert_close(policy.score(pixels, "find the blue block", phrases), reference,
                                   rtol=1e-4, atol=1e-4)
    assert policy._tree_checked[tuple(phrases)]


@pytest.mark.parametrize("fixture,size", [("tiny_llava_dir", (64, 64)), ("tiny_idefics3_dir", (32, 32))])
def test_generate_mode_returns_one_text_per_image(fixture, size, request):
    policy = TransformersVLM.from_pretrained(request.getfixturevalue(fixture), device=CPU, dtype="float32")
    assert policy.input_size == size
    texts = policy.generate(torch.rand(2, 3, *size), "go to the red block")
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)


@pytest.mark.parametrize("mode", ["score", "generate"])
def test_guard_runs_on_an_idefics3_model_in_both_modes(mode, tiny_idefics3_dir):
    guard = Guard.from_config({"policy": tiny_idefics3_dir, "policy_mode": mode, "allow_blind_policy": True,
                               "n_max": 40, "batch_size": 16, "radius_threshold": 0.1})
    decision = guard.decide(np.zeros((48, 64, 3), np.uint8), "go to the red block")
    assert decision.mode == mode and decision.reason != "policy_error", decision.error
    assert sum(decision.counts.values()) + (guard.params["n0"] if decision.candidate is None else 0) >= 1
    assert decision.model_id.startswith("tiny_idefics3")


def test_a_policy_that_ignores_its_image_is_refused(blind_llava_dir):
    with pytest.raises(BlindPolicyError, match="ignores its image"):
        Guard.from_config({"policy": blind_llava_dir})
    guard = Guard.from_config({"policy": blind_llava_dir, "allow_blind_policy": True, "n_max": 20,
                               "radius_threshold": 0.1})
    assert guard.decide(np.zeros((32, 32, 3), np.uint8), "go to the red block").reason != "policy_error"


def test_missing_or_unsafe_model_directories_are_clear_errors(tmp_path):
    with pytest.raises(PolicyError, match="not found"):
        TransformersVLM.from_pretrained(str(tmp_path / "nowhere"), device=CPU, dtype="float32")
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickles are not loaded")
    with pytest.raises(PolicyError, match="safetensors"):
        TransformersVLM.from_pretrained(str(tmp_path), device=CPU, dtype="float32")
    assert os.path.exists(tmp_path / "pytorch_model.bin")


def test_release_frees_the_model(tiny_llava_dir):
    policy = TransformersVLM.from_pretrained(tiny_llava_dir, device=CPU, dtype="float32")
    policy.release()
    assert policy.model is None


def _offset_tree(exact_tree):
    return lambda *args: exact_tree(*args) + 0.5  # as if the attention ignored the 4D mask


def _refusing_tree(exact_tree):
    def refuse(*args):
        raise RuntimeError("custom 4D attention masks are not supported")
    return refuse


@pytest.mark.parametrize("fault", [_offset_tree, _refusing_tree], ids=["wrong scores", "raises"])
def test_a_tree_layout_that_fails_its_check_is_never_used(tiny_llava_dir, fault):
    # Fault injection into the fast path: the scores must stay exact, from the plain layout.
    policy = TransformersVLM.from_pretrained(tiny_llava_dir, device=CPU, dtype="float32")
    policy._score_tree = fault(policy._score_tree)
    pixels = torch.rand(2, 3, *policy.input_size, generator=torch.Generator().manual_seed(2))
    reference = full_sequence_scores(policy, pixels, "go to the red block", PHRASES)
    for _ in range(3):
        torch.testing.assert_close(policy.score(pixels, "go to the red block", PHRASES), reference,
                                   rtol=1e-4, atol=1e-4)
    assert policy._tree_checked[tuple(PHRASES)] is False


def test_a_prefix_cache_that_changes_the_prediction_is_not_used(tiny_llava_dir, monkeypatch):
    # Fault injection: a model that loses the cached prompt text (as one with whole-prompt positions would
    # misplace it) must fall back to prefilling the whole prompt, with exact scores.
    from rs_vla_guard.policies import transformers_vlm

    real = transformers_vlm._Prepared.after_prefix

    def forgetful(self, batch, config):
        inputs = real(self, batch, config)
        inputs.pop("past_key_values", None)
        return inputs

    monkeypatch.setattr(transformers_vlm._Prepared, "after_prefix", forgetful)
    policy = TransformersVLM.from_pretrained(tiny_llava_dir, device=CPU, dtype="float32")
    pixels = torch.rand(2, 3, *policy.input_size, generator=torch.Generator().manual_seed(4))
    reference = full_sequence_scores(policy, pixels, "go to the red block", PHRASES)
    for _ in range(2):
        torch.testing.assert_close(policy.score(pixels, "go to the red block", PHRASES), reference,
                                   rtol=1e-4, atol=1e-4)
    assert policy._prepared["go to the red block"].prefix_kv is None
