"""What the forwards compute in: dtype auto on a CPU without native bfloat16 tries int8 (Linear layers
quantized) and keeps it only when it agrees with float32 and is faster; every precision is compared with
float32, never with itself."""
import numpy as np
import pytest
import torch

from rs_vla_guard.guard import Guard
from rs_vla_guard.guard import precision
from rs_vla_guard.sampling import frame_to_input
from rs_vla_guard.tasks import blocks as scenes

pytestmark = pytest.mark.model


def labels_against_float32(guard, reference, scene_count=6, copies=64, seed=3):
    """Share of equal labels of ``guard`` and the float32 ``reference`` on noisy copies of clear scenes."""
    rng = np.random.default_rng(seed)
    equal = total = 0
    for _ in range(scene_count):
        scene, colour, _ = scenes.random_scene(rng, margin=0.05)
        clean = torch.from_numpy(frame_to_input(scenes.render(scene), guard.policy.input_size))
        noisy = clean + 0.25 * torch.from_numpy(rng.standard_normal((copies,) + tuple(clean.shape)).astype(np.float32))
        text = scenes.instruction_for(colour)
        equal += int((guard.classifier(text)(noisy) == reference.classifier(text)(noisy)).sum())
        total += copies
    return equal / total


@pytest.fixture(scope="module")
def float32_guard():
    return Guard.from_config({"dtype": "float32"})


def test_auto_on_a_cpu_without_bf16_keeps_int8_only_with_float32_labels(monkeypatch, float32_guard):
    monkeypatch.setenv("RS_VLA_GUARD_CPU_BF16", "0")  # treat this CPU as one without native bfloat16
    monkeypatch.setattr(precision, "_VERDICTS", {})
    guard = Guard.from_config({})
    report = guard.precision_report
    assert guard.policy.autocast_dtype is None
    assert report["precision"] in ("int8", "float32") and "without native bfloat16" in report["why"]
    assert 0.0 <= report["label_agreement"] <= 1.0 and report["speedup"] > 0
    kept = report["precision"] == "int8"
    assert kept == (report["label_agreement"] >= precision.AGREEMENT)  # labels decide, never timing
    assert guard.policy.precision == ("int8" if kept else "")
    quantized = [m for m in guard.policy.model.modules() if type(m).__name__ == "Linear" and "quantized" in type(m).__module__]
    assert bool(quantized) == kept
    assert labels_against_float32(guard, float32_guard) >= 0.995


def test_a_refused_int8_is_undone_exactly(monkeypatch, float32_guard):
    monkeypatch.setenv("RS_VLA_GUARD_CPU_BF16", "0")
    monkeypatch.setattr(precision, "_VERDICTS", {})
    monkeypatch.setattr(precision, "AGREEMENT", 1.01)  # no int8 agrees that well: refused
    guard = Guard.from_config({})
    assert guard.precision_report["precision"] == "float32" and "refused" in guard.precision_report["why"]
    assert not [m for m in guard.policy.model.modules() if "quantized" in type(m).__module__]
    frame = scenes.render(scenes.Scene([scenes.Block("red", 0.15, 0.2)]))
    a, b = guard.decide(frame, "go to the red block"), float32_guard.decide(frame, "go to the red block")
    assert (a.action, a.certified) == (b.action, b.certified) == ("turn_left", True)
    torch.testing.assert_close(guard.policy.score(torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(1)),
                                                  "go to the red block", guard.phrases),
                               float32_guard.policy.score(torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(1)),
                                                          "go to the red block", float32_guard.phrases))


def test_a_second_guard_over_an_int8_policy_keeps_it_as_it_is(monkeypatch):
    monkeypatch.setenv("RS_VLA_GUARD_CPU_BF16", "0")
    first = Guard.from_config({"dtype": "int8"})
    second = Guard(first.policy, first.params.replace(extent_checks="brightness: 0.1"))
    assert second.precision_report["precision"] == "int8" and first.policy.precision == "int8"


def test_dtype_int8_quantizes_and_agrees_with_float32(float32_guard):
    guard = Guard.from_config({"dtype": "int8"})
    assert guard.precision_report["precision"] == "int8" and guard.policy.precision == "int8"
    assert labels_against_float32(guard, float32_guard) >= 0.995


def test_int8_is_refused_for_a_policy_without_linear_layers_to_quantize():
    with pytest.raises(Exception, match="int8"):
        Guard.from_config({"dtype": "int8", "device": "cpu", "policy": "python:guard_test_policies:red_seeker",
                           "allow_blind_policy": True})


def test_attacks_differentiate_the_float_layers_of_an_int8_policy():
    """int8 layers have no gradients: attacks run on the float layers, and the guard decides in int8 after."""
    guard = Guard.from_config({"dtype": "int8"})
    pixels = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(2), requires_grad=True)
    guard.attack_scores("go to the red block")(pixels).sum().backward()
    assert pixels.grad is not None and float(pixels.grad.abs().sum()) > 0
    assert [m for m in guard.policy.model.modules() if "quantized" in type(m).__module__]  # int8 again
