"""The policy factory: the one place that picks an adapter, and the probes a policy brings."""
import numpy as np
import pytest
import torch

from rs_vla_guard import params
from rs_vla_guard.guard import Guard
from rs_vla_guard.policies import factory
from rs_vla_guard.policies.base import Policy, PolicyError, generic_probe_frames

CPU = torch.device("cpu")


def test_model_directories_need_a_config_and_known_types(tmp_path):
    with pytest.raises(PolicyError, match="not found"):
        factory.make_policy(params.effective({"policy": str(tmp_path / "nowhere")}), CPU)
    with pytest.raises(PolicyError, match="no config.json"):
        factory.detect_type(str(tmp_path))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(PolicyError, match="unreadable config.json"):
        factory.detect_type(str(tmp_path))
    (tmp_path / "config.json").write_text('{"model_type": "llava"}')
    assert factory.detect_type(str(tmp_path)) == "vlm"


def test_generic_probe_frames_are_distinct_rgb_frames():
    frames = generic_probe_frames()
    assert len(frames) >= 6 and all(f.shape == (96, 128, 3) and f.dtype == np.uint8 for f in frames)
    assert len({f.tobytes() for f in frames}) == len(frames)


def test_the_base_class_refuses_what_a_policy_does_not_declare():
    policy = Policy()
    for call in (lambda: policy.score(None, "", []), lambda: policy.generate(None, ""),
                 lambda: policy.act(None, ""), lambda: policy.log_likelihoods(None, "", [])):
        with pytest.raises(PolicyError):
            call()


@pytest.mark.model
def test_the_builtin_policy_comes_with_its_task_probes():
    policy = factory.make_policy(params.defaults(), CPU)
    assert policy.probes is not None and policy.probes.instructions == [
        "go to the red block", "go to the green block", "go to the blue block"]
    assert isinstance(policy, Policy) and policy.differentiable and policy.input_size == (64, 64)


@pytest.mark.model
def test_other_policies_are_probed_with_generic_frames_and_the_configured_instructions(tiny_llava_dir):
    guard = Guard.from_config({"policy": tiny_llava_dir, "allow_blind_policy": True,
                               "probe_instructions": ["turn left", "stop"]})
    probes = guard.probes()
    assert probes.instructions == ["turn left", "stop"] and len(probes.frames) == len(generic_probe_frames())
    changes = guard.check_sensitivity(tolerance=1e-6)  # an untrained model reacts, if only a little
    assert changes["image_change"] > 0.02 and changes["instruction_change"] > 0
