"""The pi0 adapter on tiny pi0 models built from configs and loaded with from_pretrained."""
import json

import numpy as np
import pytest
import torch

from rs_vla_guard import params
from rs_vla_guard.guard import Guard
from rs_vla_guard.policies import factory
from rs_vla_guard.policies.base import PolicyError
from rs_vla_guard.policies.builtin_pi0 import architecture as arch
from rs_vla_guard.policies.pi0 import PI0Policy

pytestmark = pytest.mark.model
CPU = torch.device("cpu")


def save_tiny_pi0(path, *, seed=3, stats=None, state=None):
    tokenizer = arch.build_tokenizer()
    processor = arch.build_processor(tokenizer)
    arch.build_model(processor.tokenizer, seed=seed).save_pretrained(path)
    processor.save_pretrained(path)
    with open(f"{path}/action_stats.json", "w") as handle:
        json.dump({"actions": stats or arch.ACTION_STATS, "names": arch.ACTION_NAMES,
                   **({"state": state} if state else {})}, handle)
    return str(path)


@pytest.fixture(scope="module")
def tiny_pi0_dir(tmp_path_factory):
    return save_tiny_pi0(tmp_path_factory.mktemp("tiny_pi0"))


@pytest.fixture(scope="module")
def policy(tiny_pi0_dir):
    return factory.make_policy(params.effective({"policy": tiny_pi0_dir, "dtype": "float32"}), CPU)


def test_a_pi0_directory_is_detected_and_loaded_with_its_statistics(policy, tiny_pi0_dir):
    assert factory.detect_type(tiny_pi0_dir) == "pi0"
    assert isinstance(policy, PI0Policy) and policy.modes == ("action",) and policy.input_size == (64, 64)
    assert policy.action_names == ["linear_x", "angular_z"] and policy.state_dim == 0


def test_a_batch_acts_as_each_image_alone_with_the_same_noise(policy):
    pixels = torch.rand(5, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    noise = policy.noise(5, torch.Generator().manual_seed(1))
    batch = policy.act(pixels, "go to the red block", noise=noise)
    assert batch.shape == (5, arch.CHUNK_SIZE, 2)
    for i in range(5):
        alone = policy.act(pixels[i:i + 1], "go to the red block", noise=noise[i:i + 1])
        torch.testing.assert_close(alone, batch[i:i + 1], atol=1e-4, rtol=1e-4)


def test_the_adapter_denoises_exactly_as_transformers_sample_actions(policy):
    pixels = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    noise = policy.noise(3, torch.Generator().manual_seed(3))
    ids, mask = policy._prompt("go to the blue block")
    reference = policy.model.sample_actions(
        state=torch.zeros(3, 2), input_ids=ids.expand(3, -1), attention_mask=mask.expand(3, -1),
        pixel_values=policy._normalise(pixels)[:, None], pixel_attention_mask=torch.ones(3, 1, dtype=torch.bool),
        noise=noise, num_steps=policy.num_steps)
    torch.testing.assert_close(policy.act(pixels, "go to the blue block", noise=noise),
                               policy.actions.unnormalise(reference[..., :2]), atol=1e-5, rtol=1e-5)


def test_the_flow_noise_comes_from_the_generator_and_gradients_flow_through_every_step(policy):
    pixels = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    a = policy.act(pixels, "go to the red block", generator=torch.Generator().manual_seed(5))
    b = policy.act(pixels, "go to the red block", generator=torch.Generator().manual_seed(5))
    c = policy.act(pixels, "go to the red block", generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    pixels.requires_grad_(True)
    out = policy.actions_with_grad(pixels, "go to the red block", generator=torch.Generator().manual_seed(5))
    (gradient,) = torch.autograd.grad(out.sum(), pixels)
    assert gradient.abs().sum() > 0 and torch.allclose(out.detach(), a, atol=1e-5)


def test_decisions_are_identical_for_the_same_seed(tiny_pi0_dir):
    overrides = {"policy": tiny_pi0_dir, "allow_blind_policy": True, "radius_threshold": 0.1, "n_max": 64,
                 "batch_size": 32, "seed": 9}
    frame = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    first, second = (Guard.from_config(overrides).decide(frame, "go to the red block") for _ in range(2))
    assert first.to_dict() | {"latency_ms": 0} == second.to_dict() | {"latency_ms": 0}
    assert first.mode == "action" and sum(first.counts.values()) == first.n_samples > 0


def test_quantile_statistics_state_and_several_cameras(tmp_path):
    path = save_tiny_pi0(tmp_path / "q", stats={"q01": [0.0, -1.0], "q99": [0.3, 1.0], "mask": [True, False]},
                         state={"mean": [0.0], "std": [1.0]})
    with open(f"{path}/action_stats.json") as handle:
        stats = json.load(handle)
    stats["cameras"] = 2
    with open(f"{path}/action_stats.json", "w") as handle:
        json.dump(stats, handle)
    policy = factory.make_policy(params.effective({"policy": path}), CPU)
    assert (policy.cameras, policy.channels, policy.state_dim) == (2, 6, 1)
    noise = policy.noise(1, torch.Generator().manual_seed(0))
    out = policy.act(torch.rand(1, 6, 64, 64), "go", state=torch.tensor([[0.5]]), noise=noise)
    assert out.shape == (1, arch.CHUNK_SIZE, 2)
    with pytest.raises(PolicyError, match="robot state"):
        policy.act(torch.rand(1, 6, 64, 64), "go")
    with pytest.raises(PolicyError, match="2 camera"):
        policy.act(torch.rand(1, 3, 64, 64), "go", state=torch.tensor([[0.5]]))
    guard = Guard.from_config({"policy": path, "allow_blind_policy": True, "radius_threshold": 0.1, "n_max": 32,
                               "batch_size": 16})
    frame = np.zeros((40, 40, 3), np.uint8)
    assert guard.decide([frame, frame], "go", state=[0.1]).reason != "policy_error"
    assert guard.decide(frame, "go", state=[0.1]).reason == "invalid_image"  # one frame for two cameras
    assert guard.decide([frame, frame], "go").reason == "no_state"


def test_missing_statistics_are_a_clear_error(tmp_path):
    path = save_tiny_pi0(tmp_path / "nostats")
    (tmp_path / "nostats" / "action_stats.json").unlink()
    with open(f"{path}/processor_config.json") as handle:
        config = json.load(handle)
    config.pop("actions_mean", None)
    config.pop("actions_std", None)
    with open(f"{path}/processor_config.json", "w") as handle:
        json.dump(config, handle)
    with pytest.raises(PolicyError, match="action statistics"):
        factory.make_policy(params.effective({"policy": path}), CPU)
