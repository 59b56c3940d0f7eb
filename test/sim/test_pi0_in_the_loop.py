"""The built-in pi0 in the loop of the MuJoCo arena (the continuous-actions issue's acceptance, in small):
guarded, it drives to the named block on clean seeded episodes; under PGD inside the certified radius,
aimed at a wrong class through every flow-matching step, the guarded robot executes no attacker-induced
action while the same attack steers the unguarded policy. Full figures: `rs-vla-guard sim --policy
builtin-pi0` (README)."""
import pytest

from rs_vla_guard.guard import Guard
from rs_vla_guard.sim import episodes as simulate

pytestmark = [pytest.mark.sim, pytest.mark.model]
SEEDS = (100, 101, 102)


@pytest.fixture(scope="module")
def pi0_guard():
    return Guard.from_config({"policy": "builtin-pi0", "continuous_command": "clean"})


def test_the_guarded_pi0_reaches_the_named_block(pi0_guard, world):
    results = [simulate.run_episode(pi0_guard, world, seed, guarded=True, max_time_s=20.0) for seed in SEEDS]
    summary = simulate.summarise(results)
    assert summary["reached_wrong_block"] == 0 and summary["collision_steps"] == 0, summary
    assert summary["reached_target"] >= 2 / 3, [(r.seed, r.target, r.steps, r.actions) for r in results]


def test_pgd_through_the_flow_steers_the_unguarded_pi0_but_not_the_guarded_one(pi0_guard, world):
    eps = pi0_guard.params["radius_threshold"]
    options = dict(attack="pgd", eps=eps, max_time_s=3.0, pgd_steps=10)
    guarded = simulate.run_episode(pi0_guard, world, SEEDS[0], guarded=True, **options)
    unguarded = simulate.run_episode(pi0_guard, world, SEEDS[0], guarded=False, **options)
    assert guarded.attack_l2_max <= eps + 1e-6 and unguarded.attack_l2_max <= eps + 1e-6
    assert unguarded.induced_actions > 0, unguarded
    assert guarded.induced_actions == 0, guarded


def test_pgd_on_the_executed_yaw_keeps_the_guarded_median_within_its_certified_envelope(world):
    """continuous_command median: on every attacked step the guarded robot executes, its yaw is within the
    certified envelope's width of the clean frame's smoothed median yaw (2048 samples); the figures over
    whole episodes are in the README."""
    guard = Guard.from_config({"policy": "builtin-pi0", "continuous_command": "median", "certify_target": "both",
                               "envelope_limits": "angular_z: 0.2"})
    eps = guard.params["radius_threshold"]
    result = simulate.run_episode(guard, world, SEEDS[1], guarded=True, attack="pgd", eps=eps, pgd_aim="yaw",
                                  max_time_s=1.2, pgd_steps=5)
    assert result.attack_l2_max <= eps + 1e-6
    assert result.command_steps > 0 and result.envelope_violations == 0, result
    assert result.steps == 6 and result.stopped_steps + result.command_steps == result.steps
