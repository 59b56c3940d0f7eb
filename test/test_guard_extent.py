"""Extent certificates on the device and in the guard: the batched transforms, extent_checks in decisions
(extent_too_small, the alpha split, the certificate's intervals), the brute-force sweep on built-in scenes,
and ``rs-vla-guard extent``."""
import json

import numpy as np
import pytest
import torch

from rs_vla_guard import params as P
from rs_vla_guard.certification.extent import ExtentSmoothing
from rs_vla_guard.guard import Guard, certificate_values
from rs_vla_guard.sampling import TransformSampler, make_generator, transform_batch
from rs_vla_guard.tasks import blocks as scenes
from rs_vla_guard.tools.extent import brute_force

INSTRUCTION = "go to the red block"


def frame(x=0.5, light=1.0, width=0.15):
    return scenes.render(scenes.Scene([scenes.Block("red", x, width)], light=light))


# ---------------------------------------------------------------- the transforms (no model)

def test_each_transform_does_what_its_parameter_says():
    image = torch.rand(3, 16, 20, generator=torch.Generator().manual_seed(0))
    bright = transform_batch(image, "brightness", torch.tensor([[0.1], [-0.2]]))
    assert torch.allclose(bright[0], image + 0.1) and torch.allclose(bright[1], image - 0.2)  # no clipping
    contrast = transform_batch(image, "contrast", torch.tensor([[np.log(2.0)]]))
    assert torch.allclose(contrast[0], 2 * image)
    shifted = transform_batch(image, "shift", torch.tensor([[2.0, 0.0], [0.0, -1.0], [0.0, 0.0]]))
    assert torch.allclose(shifted[0, :, :, 2:], image[:, :, :-2], atol=1e-5)  # content moves right by dx
    assert torch.allclose(shifted[1, :, :-1], image[:, 1:], atol=1e-5)  # and up for negative dy
    assert torch.allclose(shifted[0, :, :, 1], image[:, :, 0], atol=1e-5)  # reflected at the border
    assert torch.allclose(shifted[2], image, atol=1e-5)
    blurred = transform_batch(image, "blur", torch.tensor([[0.0], [1.0], [4.0]]))
    assert torch.equal(blurred[0], image)  # variance 0 leaves the frame as it is
    spreads = [float(b.std()) for b in blurred]
    assert spreads[0] > spreads[1] > spreads[2]  # more variance, smoother
    assert torch.allclose(blurred.mean(dim=(2, 3)), image.mean(dim=(1, 2)).expand(3, 3), atol=0.01)
    # Gaussian kernels compose: variance 1 twice is about variance 2 (the certificate's reading of "more blur")
    twice = transform_batch(transform_batch(image, "blur", torch.tensor([[1.0]]))[0], "blur", torch.tensor([[1.0]]))
    assert torch.allclose(twice[0], transform_batch(image, "blur", torch.tensor([[2.0]]))[0], atol=2e-3)


@pytest.mark.parametrize("smoothing, low, mean, std", [
    (ExtentSmoothing("brightness", 0.2), None, 0.0, 0.2),
    (ExtentSmoothing("blur", 4.0, "uniform"), 0.0, 2.0, 4.0 / np.sqrt(12)),
    (ExtentSmoothing("blur", 2.0, "folded_gaussian"), 0.0, 2.0 * np.sqrt(2 / np.pi), 2.0 * np.sqrt(1 - 2 / np.pi)),
    (ExtentSmoothing("shift", 3.0), None, 0.0, 3.0),
])
def test_the_sampler_draws_the_smoothing_distribution(smoothing, low, mean, std):
    """Moments of 20,000 draws within 4 standard errors (fixed seed), and the offset moves them."""
    sampler = TransformSampler(lambda pixels: torch.zeros(len(pixels)), torch.zeros(3, 4, 4), smoothing,
                               batch_size=64, generator=make_generator(torch.device("cpu"), 3))
    draws = sampler.parameters(20_000).numpy()
    assert draws.shape == (20_000, smoothing.dimensions)
    if low is not None:
        assert draws.min() >= low
    assert abs(draws.mean() - mean) < 4 * std / np.sqrt(draws.size)
    assert abs(draws.std() - std) < 0.02 * std
    moved = TransformSampler(sampler.classify, torch.zeros(3, 4, 4), smoothing, batch_size=64,
                             generator=make_generator(torch.device("cpu"), 3), offset=[1.0] * smoothing.dimensions)
    assert np.allclose(moved.parameters(20_000).numpy(), draws + 1.0, atol=1e-6)


# ---------------------------------------------------------------- in the guard (built-in policy)

@pytest.fixture(scope="module")
def extent_guard():
    return Guard.from_config({"extent_checks": "brightness: 0.33"})


@pytest.mark.model
def test_extent_checks_pass_on_a_clear_frame_and_stop_a_dim_one(extent_guard):
    clear = extent_guard.decide(frame(), INSTRUCTION)
    assert clear.certified and clear.reason == "certified" and clear.action == "move_forward"
    [record] = clear.extents
    assert record["certified"] and record["interval"][1] >= 0.33 and record["interval"][0] == -record["interval"][1]
    values = certificate_values(clear.to_dict())
    assert json.loads(values["extents"]) == {"brightness": record["interval"]}
    # A dimmer room: the L2 certificate still holds, but darkening by 0.33 may change the action.
    dim = extent_guard.decide(frame(light=0.6), INSTRUCTION)
    assert dim.reason == "extent_too_small" and not dim.certified and dim.action == "stop"
    assert dim.twist == (0.0, 0.0) and dim.radius >= 0.25 and dim.extents[0]["interval"][1] < 0.33


@pytest.mark.model
def test_alpha_is_split_over_the_class_test_and_every_extent_check(extent_guard):
    assert extent_guard._hypotheses() == 2
    two = Guard(extent_guard.policy, P.effective({"extent_checks": "brightness: 0.1, shift: 1"}))
    assert two._hypotheses() == 3
    decision = two.decide(frame(), INSTRUCTION)
    assert decision.certified and [e["transform"] for e in decision.extents] == ["brightness", "shift"]
    # a frame the L2 certificate already refuses runs no extent test
    border = two.decide(frame(x=0.31), INSTRUCTION)
    assert not border.certified and border.reason != "extent_too_small" and border.extents == ()


def test_extent_checks_are_validated_and_only_tighten_at_run_time():
    assert P.validate({"extent_checks": "hue: 1"}) == ["extent_checks: unknown transform 'hue'; use brightness, "
                                                         "contrast, blur, shift"]
    [problem] = P.validate({"extent_checks": "blur: 2.5"})
    assert "at most 2" in problem  # uniform U[0, 4] cannot certify more blur than 2
    assert P.validate({"extent_checks": "blur: 2.5", "extent_blur_smoothing": "folded_gaussian"}) == []
    [problem] = P.validate({"extent_checks": "brightness: 0.45"})  # p* = 0.988 at alpha / 2: 500+ samples
    assert "needs more than n_max 256 samples" in problem
    assert P.validate({"extent_checks": "brightness: 0.45", "n_max": 1000}) == []
    configured = P.effective({"extent_checks": "brightness: 0.2"})
    P.runtime_change(configured, configured, {"extent_checks": "brightness: 0.3, blur: 1"})
    for looser in ("", "brightness: 0.1", "blur: 1"):
        with pytest.raises(P.ConfigError, match="extent_checks: brightness may only rise"):
            P.runtime_change(configured, configured, {"extent_checks": looser})


@pytest.mark.model
def test_brute_force_sweeps_find_no_other_majority_inside_any_certified_interval(builtin_guard):
    """20 random built-in scenes, five per transform: the smoothed classifier's majority (48 samples per
    point, fixed seed) is the certified action at 0.5 and 0.98 of the radius on every side; some scene
    shows another majority at 1.5-2x the radius, so the intervals are not vacuous."""
    rng = np.random.default_rng(17)
    builtin_guard.generator.manual_seed(17)
    transforms = ("brightness", "contrast", "blur", "shift")
    certified, outside_changes = 0, 0
    for index in range(20):
        scene, colour, _ = scenes.random_scene(rng)
        record = brute_force(builtin_guard, scenes.render(scene), scenes.instruction_for(colour),
                             transforms[index % 4], samples=256, sweep_samples=48)
        certified += bool(record["inside"])
        assert all(point["majority"] == record["action"] for point in record["inside"]), record
        outside_changes += any(point["majority"] != record["action"] for point in record["outside"])
    assert certified >= 18 and outside_changes >= 1


# ---------------------------------------------------------------- the command

@pytest.mark.model
def test_extent_command_prints_the_interval_and_plots_it(tmp_path, capsys):
    import cv2

    from rs_vla_guard.tools.cli import main

    image = str(tmp_path / "scene.png")
    cv2.imwrite(image, cv2.cvtColor(frame(x=0.4), cv2.COLOR_RGB2BGR))
    plot = tmp_path / "shift.png"
    assert main(["extent", image, "--instruction", INSTRUCTION, "--transform", "shift", "--samples", "256", "--json",
                 "--plot", str(plot), "--sweep-samples", "32"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["action"] == "move_forward" and record["n_samples"] == 256 and record["transform"] == "shift"
    assert record["interval"][0] == 0.0 and record["interval"][1] > 0 and 0.5 < record["p_lower"] < 1
    assert plot.stat().st_size > 10_000 and cv2.imread(str(plot)) is not None
    assert main(["extent", image, "--instruction", INSTRUCTION, "--transform", "blur", "--extent-smoothing",
                 "blur: 0"]) == 2
    error = capsys.readouterr().err
    assert "extent_smoothing" in error and len(error.strip().splitlines()) == 1
