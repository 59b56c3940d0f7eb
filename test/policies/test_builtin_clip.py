"""The dual-encoder policy on the built-in tiny CLIP (``policy: builtin-clip``, trained by
``python -m rs_vla_guard.training.builtin_clip``): it loads as any local CLIPModel directory, the
guard certifies with it, and its closed-form semantic certificate agrees with a dense sweep of the extent
on every tested scene and prompt pair."""
import json

import pytest
import torch

from heldout import heldout_frames
from rs_vla_guard.certification.semantic import swept_interval
from rs_vla_guard.guard import Guard
from rs_vla_guard.policies.builtin_clip import MODEL_DIR
from rs_vla_guard.policies.dual_encoder import DualEncoderPolicy, semantic_certificate
from rs_vla_guard.policies.factory import detect_type

pytestmark = pytest.mark.model
STEP = 1e-3  # radians: the sweep's grid, and the agreement asked of the closed form
PAIRS = [("a photo in daylight", "a photo at night"), ("a photo at night", "a photo in daylight"),
         ("go to the red block : turn left", "go to the red block : turn right")]


@pytest.fixture(scope="module")
def guard():
    return Guard.from_config({"policy": "builtin-clip"})


def test_it_loads_as_a_dual_encoder_and_passes_the_sensitivity_check(guard):
    assert isinstance(guard.policy, DualEncoderPolicy) and guard.mode == "score"
    assert guard.policy.model_id.startswith("builtin_clip@") and guard.policy.input_size == (64, 64)
    assert detect_type(MODEL_DIR) == "clip"  # a CLIPModel directory is detected as one
    report = json.load(open(f"{MODEL_DIR}/training_report.json"))
    # a small model that must bind colour to place without seeing the instruction: a test model, not a driver
    assert report["heldout_accuracy_clean"] >= 0.6 and report["heldout_lighting_accuracy"] >= 0.9


def test_the_guard_certifies_clear_heldout_scenes_with_it(guard):
    """The guard certifies what the smoothed policy does, right or wrong; this policy is right far more often."""
    decisions = [(guard.decide(frame, instruction), truth) for frame, instruction, truth in heldout_frames(40, 777)]
    right = sum(d.certified and d.action == truth for d, truth in decisions)
    wrong = sum(d.certified and d.action != truth for d, truth in decisions)
    assert right >= 14 and right >= 3 * wrong, [(d.action, d.reason, truth) for d, truth in decisions]


def test_closed_form_semantic_intervals_match_a_dense_sweep(guard):
    """12 held-out scenes x 3 prompt pairs: both ends within the sweep step, and the predicted action is
    the guard's clean-frame prediction."""
    checked = 0
    for frame, instruction, _ in heldout_frames(12, 4243):
        pixels = torch.from_numpy(guard._input(frame))
        for source, target in PAIRS:
            result, image, classes, pair = semantic_certificate(guard.policy, pixels, instruction, guard.phrases,
                                                                source, target)
            low, high = swept_interval(image, classes, pair[0], pair[1], step=STEP)
            assert abs(result.low - low) <= STEP + 1e-9 and abs(result.high - high) <= STEP + 1e-9
            label = int(guard.classifier(instruction)(pixels[None])[0])
            assert result.predicted == label and result.low <= 0 <= result.high
            checked += 1
    assert checked == 36


def test_semantic_command_prints_the_interval(capsys):
    import cv2

    from rs_vla_guard.tasks import blocks
    from rs_vla_guard.tools.cli import main

    path = "/tmp/rs_vla_guard_semantic_scene.png"
    cv2.imwrite(path, cv2.cvtColor(blocks.render(blocks.Scene([blocks.Block("red", 0.2, 0.2)])), cv2.COLOR_RGB2BGR))
    assert main(["semantic", path, "--instruction", "go to the red block", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    low, high = record["interval_radians"]
    assert record["source"] == "a photo in daylight" and low <= 0 <= high and record["phi_target"] > 0
    assert record["predicted"] in ("turn_left", "move_forward", "turn_right", "stop")
    assert main(["semantic", path, "--instruction", "go to the red block", "--policy", "builtin"]) == 2
    assert "dual-encoder" in capsys.readouterr().err
