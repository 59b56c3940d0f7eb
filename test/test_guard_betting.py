"""The guard with the betting test (the default): the clean frame rides in the first noisy batch, a clear
decision costs one forward pass, the old tests stay selectable, and bfloat16 autocast (where the CPU computes
it natively) keeps float32's labels."""
import numpy as np
import pytest
import torch

from rs_vla_guard.guard import Guard
from rs_vla_guard.policies.hf_common import cpu_has_bf16
from rs_vla_guard.sampling import frame_to_input, predict_clean
from rs_vla_guard.tasks import blocks as scenes

pytestmark = pytest.mark.model

INSTRUCTION = "go to the red block"


def frame(x):
    return scenes.render(scenes.Scene([scenes.Block("red", x, 0.15)]))


class ForwardLog:
    """Records the batch size of every forward pass of a policy's ``score`` (and passes it on)."""

    def __init__(self, policy):
        self.policy, self.sizes, self.original = policy, [], policy.score

    def __enter__(self):
        def score(pixels, *args, **kwargs):
            self.sizes.append(int(pixels.shape[0]))
            return self.original(pixels, *args, **kwargs)
        self.policy.score = score
        return self

    def __exit__(self, *exc):
        self.policy.score = self.original


def test_a_clear_decision_is_one_forward_pass_with_the_clean_frame_in_it(builtin_guard):
    guard = builtin_guard
    image = frame(0.5)
    guard.generator.manual_seed(0)
    with ForwardLog(guard.policy) as log:
        decision = guard.decide(image, INSTRUCTION)
    assert decision.certified and decision.action == "move_forward"
    assert log.sizes == [decision.n_samples + 1] == [44]  # 43 noisy samples and the clean frame
    clean = torch.from_numpy(frame_to_input(image, guard.policy.input_size))
    assert guard.actions[predict_clean(guard.classifier(INSTRUCTION), clean)] == decision.candidate


@pytest.mark.parametrize("mode", ["sequential", "fixed"])
def test_the_earlier_tests_stay_selectable_and_agree_on_clear_frames(builtin_guard, mode):
    guard = builtin_guard
    guard.update(certify_mode=mode)
    try:
        for x, action in ((0.5, "move_forward"), (0.15, "turn_left"), (0.85, "turn_right")):
            guard.generator.manual_seed(1)
            decision = guard.decide(frame(x), INSTRUCTION)
            assert (decision.action, decision.certified) == (action, True)
    finally:
        guard.update(certify_mode="betting")


def test_a_border_frame_stops_after_one_batch(builtin_guard):
    """The move/turn border (about half the samples each way): the betting test's futility stop."""
    guard = builtin_guard
    guard.generator.manual_seed(0)
    with ForwardLog(guard.policy) as log:
        decision = guard.decide(frame(0.30), INSTRUCTION)
    assert not decision.certified and decision.action == "stop"
    assert sum(log.sizes) <= 64 + 1, log.sizes


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no native bfloat16")
def test_bfloat16_autocast_keeps_float32_labels_on_noisy_frames():
    """dtype auto (bfloat16 autocast here) against float32 on 4 scenes x 64 noisy copies: >= 99% equal labels."""
    guards = {dtype: Guard.from_config({"dtype": dtype}) for dtype in ("auto", "float32")}
    assert guards["auto"].policy.autocast_dtype == torch.bfloat16 and guards["float32"].policy.autocast_dtype is None
    rng = np.random.default_rng(3)
    equal = total = 0
    for _ in range(4):
        scene, colour, _ = scenes.random_scene(rng, margin=0.05)
        clean = torch.from_numpy(frame_to_input(scenes.render(scene), guards["auto"].policy.input_size))
        noisy = clean + 0.25 * torch.from_numpy(rng.standard_normal((64,) + tuple(clean.shape)).astype(np.float32))
        labels = {dtype: guard.classifier(scenes.instruction_for(colour))(noisy) for dtype, guard in guards.items()}
        equal += int((labels["auto"] == labels["float32"]).sum())
        total += noisy.shape[0]
    assert equal / total >= 0.99
