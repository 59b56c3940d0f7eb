"""Attacks stay inside their L2 budget (rounding included), and an attack inside the certified radius
never makes the guard certify a different action."""
import numpy as np
import pytest
import torch

from rs_vla_guard.attacks import Attacker, perturbations
from rs_vla_guard.sampling import frame_to_input
from rs_vla_guard.tasks import blocks as scenes

pytestmark = pytest.mark.model

INSTRUCTION = "go to the red block"


def policy_input(frame, guard):
    return torch.from_numpy(frame_to_input(frame, guard.policy.input_size))


def distance(frame, clean):
    return float((torch.from_numpy(frame).permute(2, 0, 1).float() / 255 - clean).norm())


@pytest.fixture(scope="module")
def clean_left(builtin_guard):
    frame = scenes.render(scenes.Scene([scenes.Block("red", 0.15, 0.2), scenes.Block("blue", 0.5, 0.12)]))
    return policy_input(frame, builtin_guard)


@pytest.mark.parametrize("eps", [0.1, 0.25, 1.0, 5.0])
def test_noise_and_patch_respect_the_budget(clean_left, eps):
    generator = torch.Generator().manual_seed(0)
    frame, achieved = perturbations.noise(clean_left, eps, generator)
    assert achieved <= eps and distance(frame, clean_left) == pytest.approx(achieved, abs=1e-6)
    if eps >= 0.25:  # below that, rounding to uint8 swallows much of a spread-out perturbation
        assert achieved >= 0.8 * eps  # the budget is used, not wasted
    frame, achieved = perturbations.patch(clean_left, eps)
    assert achieved <= eps and distance(frame, clean_left) == pytest.approx(achieved, abs=1e-6)
    before = perturbations.to_frame(clean_left).astype(int)
    assert np.array_equal(frame[:10], before[:10])  # outside the square: untouched
    centre = frame[28:36, 28:36].astype(int)
    assert np.abs(centre - 128).sum() < np.abs(before[28:36, 28:36] - 128).sum()  # greyer at the centre


def test_pgd_pushes_the_base_policy_towards_the_target(builtin_guard, clean_left):
    guard = builtin_guard
    scores = guard.attack_scores(INSTRUCTION)
    target = guard.actions.index("turn_right")
    with torch.no_grad():
        before = scores(clean_left.unsqueeze(0))[0]
    frame, achieved = perturbations.pgd(clean_left, 1.0, scores, [target], steps=20)
    assert achieved <= 1.0
    with torch.no_grad():
        after = scores(policy_input(frame, guard).unsqueeze(0))[0]
    margin = lambda s: float(s[target] - torch.cat([s[:target], s[target + 1:]]).max())  # noqa: E731
    assert margin(after) > margin(before) + 3.0


@pytest.mark.parametrize("x,target", [(0.15, "turn_right"), (0.5, "turn_left"), (0.85, "stop")])
def test_attack_inside_the_certified_radius_never_changes_a_certified_action(builtin_guard, x, target):
    guard = builtin_guard
    frame = scenes.render(scenes.Scene([scenes.Block("red", x, 0.2), scenes.Block("green", 0.5 if x != 0.5 else 0.15, 0.1)]))
    clean = policy_input(frame, guard)
    decision = guard.decide(frame, INSTRUCTION)
    assert decision.certified
    scores = guard.attack_scores(INSTRUCTION)
    attacked, achieved = perturbations.pgd(clean, decision.radius, scores, [guard.actions.index(target)], steps=20)
    assert achieved <= decision.radius
    after = guard.decide(attacked, INSTRUCTION)
    assert after.action in (decision.action, guard.params["safe_action"])  # same action, or a stop


def test_the_attacker_dispatches_reproducibly_and_refuses_what_it_cannot_do(builtin_guard, clean_left):
    first, l2 = Attacker("noise", 0.5, seed=3).perturb(clean_left)
    again, _ = Attacker("noise", 0.5, seed=3).perturb(clean_left)
    other, _ = Attacker("noise", 0.5, seed=4).perturb(clean_left)
    assert np.array_equal(first, again) and not np.array_equal(first, other) and 0.4 < l2 <= 0.5
    unattacked, floor = Attacker("none", 0.0).perturb(clean_left)
    assert unattacked.shape == (64, 64, 3) and floor == pytest.approx(perturbations.rounding_floor(clean_left))
    guard = builtin_guard
    frame, l2 = Attacker("pgd", 0.5, pgd_steps=5).perturb(clean_left, scores=guard.attack_scores(INSTRUCTION),
                                                          actions=guard.actions)
    assert frame.shape == (64, 64, 3) and l2 <= 0.5
    with pytest.raises(ValueError, match="unknown attack"):
        Attacker("laser", 0.1)
    with pytest.raises(ValueError, match="eps"):
        Attacker("noise", -1.0)
    with pytest.raises(ValueError, match="differentiable scores"):
        Attacker("pgd", 0.1).perturb(clean_left)


def test_pgd_on_a_command_moves_it_further_than_noise_of_the_same_norm_and_stays_in_budget():
    """pgd_aim yaw: PGD pushes a continuous policy's executed yaw away from its clean value (the tests' red
    seeker, deterministic and differentiable), further than a random perturbation of the same norm."""
    from rs_vla_guard.attacks import attack_objective
    from rs_vla_guard.guard import Guard

    guard = Guard.from_config({"policy": "python:guard_test_policies:red_seeker"})
    clean = policy_input(scenes.render(scenes.Scene([scenes.Block("red", 0.3, 0.2)])), guard)
    yaw = attack_objective(guard, INSTRUCTION, "yaw", smoothed=False)
    with torch.no_grad():
        start = float(yaw(clean[None])[0])
    attacked, achieved = Attacker("pgd", 0.5, pgd_aim="yaw", pgd_steps=20).perturb(clean, scores=yaw)
    noisy, _ = Attacker("noise", 0.5, seed=3).perturb(clean)
    with torch.no_grad():
        moved = float(yaw(policy_input(attacked, guard)[None])[0]) - start
        by_noise = abs(float(yaw(policy_input(noisy, guard)[None])[0]) - start)
    assert achieved <= 0.5 + 1e-6 and start > 0 and moved < 0  # a left turn is pushed right
    assert abs(moved) > 5 * by_noise, (moved, by_noise)
    with pytest.raises(Exception, match="no differentiable command"):
        Guard.from_config({"policy": "builtin"}).attack_command(INSTRUCTION, "angular_z", smoothed=True)
