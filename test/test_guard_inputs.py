"""Guard.decide on bad input and failing policies: always a safe decision with a reason, never a raise."""
import numpy as np
import pytest
import torch

from rs_vla_guard.params import ConfigError
from rs_vla_guard.guard import Guard

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def guard(tiny_llava_dir):
    # An untrained model and few samples: radius_threshold 0.1 keeps 32 samples enough to certify in principle.
    return Guard.from_config({"policy": tiny_llava_dir, "allow_blind_policy": True, "n_max": 32, "batch_size": 16,
                              "radius_threshold": 0.1})


FRAME = np.zeros((48, 64, 3), np.uint8)


@pytest.mark.parametrize("frame", [
    np.zeros((0, 64, 3), np.uint8), np.zeros((48, 64), np.uint8), np.zeros((48, 64, 4), np.uint8),
    np.zeros((48, 64, 3), np.float32), "not an image",
])
def test_invalid_frames_stop_with_invalid_image(guard, frame):
    decision = guard.decide(frame, "go to the red block")
    assert (decision.action, decision.reason, decision.certified) == ("stop", "invalid_image", False)
    assert decision.error


@pytest.mark.parametrize("instruction", ["", "   ", None])
def test_missing_instruction_stops(guard, instruction):
    decision = guard.decide(FRAME, instruction)
    assert (decision.action, decision.reason) == ("stop", "no_instruction")


def test_policy_failure_stops_and_the_guard_keeps_working(guard):
    real_score = guard.policy.score

    def failing(*args, **kwargs):
        raise RuntimeError("CUDA out of memory (injected)")

    guard.policy.score = failing
    try:
        decision = guard.decide(FRAME, "go to the red block")
    finally:
        guard.policy.score = real_score
    assert (decision.action, decision.reason) == ("stop", "policy_error")
    assert "out of memory" in decision.error
    assert guard.decide(FRAME, "go to the red block").reason != "policy_error"


def test_decisions_are_reproducible_from_the_seed(tiny_llava_dir):
    overrides = {"policy": tiny_llava_dir, "allow_blind_policy": True, "n_max": 64, "batch_size": 16, "seed": 5}
    first = Guard.from_config(overrides).decide(FRAME, "go to the red block")
    second = Guard.from_config(overrides).decide(FRAME, "go to the red block")
    assert (first.counts, first.p_lower, first.candidate) == (second.counts, second.p_lower, second.candidate)


@pytest.mark.parametrize("overrides,needle", [
    ({"sigma": 0.0}, "sigma"), ({"alpha": 0.5}, "alpha"), ({"alpha": 0.0}, "alpha"),
    ({"safe_action": "dance"}, "safe_action"), ({"n_max": 0}, "n_max"), ({"certify_mode": "both"}, "certify_mode"),
    ({"bogus": 1}, "unknown"), ({"action_linear_x": [0.2, 0.0]}, "one value per action"),
    ({"action_linear_x": [0.2, 0.0, 0.0, 0.1]}, "zero twist"),
])
def test_invalid_parameters_are_rejected_with_the_name(overrides, needle):
    with pytest.raises(ConfigError, match=needle):
        Guard.from_config(overrides)


def test_runtime_update_changes_the_next_decision(guard):
    guard.update(radius_threshold=0.11)
    try:
        decision = guard.decide(FRAME, "go to the red block")
        assert decision.radius_threshold == 0.11 and decision.config_hash == guard.config_hash
        with pytest.raises(ConfigError, match="n_max: 32 samples can never certify"):
            guard.update(radius_threshold=0.5)
        with pytest.raises(ConfigError, match="read-only"):
            guard.update(policy="elsewhere")
        with pytest.raises(ConfigError, match="sigma"):
            guard.update(sigma=-1.0)
        assert guard.params["sigma"] == 0.25
    finally:
        guard.update(radius_threshold=0.1)


def test_fixed_mode_draws_n0_plus_n_samples(tiny_llava_dir):
    guard = Guard.from_config({"policy": tiny_llava_dir, "allow_blind_policy": True, "certify_mode": "fixed",
                               "n0": 8, "n_max": 24, "batch_size": 16, "radius_threshold": 0.1})
    decision = guard.decide(FRAME, "go to the red block")
    assert decision.n_samples == 32 and sum(decision.counts.values()) == 24


def test_counts_name_actions(guard):
    decision = guard.decide(FRAME, "go to the red block")
    assert set(decision.counts) <= {"move_forward", "turn_left", "turn_right", "stop", "unmapped"}
    assert decision.to_dict()["counts"] == decision.counts
    assert isinstance(torch.tensor(decision.radius).item(), float)
