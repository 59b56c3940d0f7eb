"""Your own policy behind the guard (``policy: python:package.module:factory``): base and arm policies of
the tests' own (test/user_policies), with continuous commands, robot state and attacks."""
import pytest
import torch

from rs_vla_guard import actions
from rs_vla_guard.attacks import Attacker
from rs_vla_guard.guard import Guard
from rs_vla_guard.policies.base import PolicyError
from rs_vla_guard.sampling import frame_to_input
from rs_vla_guard.tasks import blocks

pytestmark = pytest.mark.model
LEFT = blocks.render(blocks.Scene([blocks.Block("red", 0.15, 0.25)]))
AHEAD = blocks.render(blocks.Scene([blocks.Block("red", 0.5, 0.25)]))
EMPTY = blocks.render(blocks.Scene([]))
ARM = {"binning": "arm", "actions": list(actions.ARM_ACTIONS), "safe_action": "hold",
       "action_dimensions": list(actions.ARM_DIMENSIONS)}


def seeker(**overrides):
    return Guard.from_config({"policy": "python:guard_test_policies:red_seeker", **overrides})


def test_a_user_policy_is_certified_and_executes_its_table_twist_by_default():
    guard = seeker()
    decision = guard.decide(LEFT, "go to the red block")
    assert (decision.action, decision.certified, decision.mode) == ("turn_left", True, "action")
    assert decision.twist == pytest.approx((0.0, 0.6)) and decision.vector == pytest.approx((0.0, 0.6))
    assert guard.decide(EMPTY, "go to the red block").action == "stop"
    assert guard.decide(LEFT, "stop").action == "stop"


def test_continuous_command_clean_executes_the_policys_own_action_inside_the_certified_bin():
    guard = seeker(continuous_command="clean", max_angular_speed=0.5, action_angular_z=[0.0, 0.5, -0.5, 0.0])
    decision = guard.decide(LEFT, "go to the red block")
    own = guard.policy.act(torch.from_numpy(frame_to_input(LEFT, (32, 32)))[None], "go to the red block")[0, 0]
    assert decision.certified and decision.action == "turn_left"
    linear, angular = decision.twist
    assert angular == pytest.approx(min(float(own[1]), 0.5), abs=1e-6)  # its own yaw, capped
    assert guard.oracle.label_of(linear, angular) == "turn_left"  # inside the certified class's bin


@pytest.mark.parametrize("factory,message", [("broken", "fails on purpose"), ("not_a_policy", "input_size"),
                                             ("missing", "cannot import"), ("", "module and a factory")])
def test_user_policies_that_cannot_load_are_clear_errors(factory, message):
    with pytest.raises(PolicyError, match=message):
        Guard.from_config({"policy": f"python:guard_test_policies:{factory}" if factory else "python:nothing"})


def test_a_policy_that_takes_the_robot_state_stops_without_it():
    guard = Guard.from_config({"policy": "python:guard_test_policies:stateful_red_seeker"})
    assert guard.state_dim == 2
    assert guard.decide(LEFT, "go to the red block").reason == "no_state"
    wrong = guard.decide(LEFT, "go to the red block", state=[0.0])  # wrong size: arrived, but unusable
    assert wrong.reason == "invalid_state" and "takes 2 state values, the state has 1" in wrong.error
    nan = guard.decide(LEFT, "go to the red block", state=[float("nan"), 0.0])
    assert nan.reason == "invalid_state" and "not a finite number" in nan.error and "np.float" not in nan.error
    assert guard.decide(LEFT, "go to the red block", state=[0.1, 0.2]).action == "turn_left"


def test_an_arm_policy_is_binned_by_its_dominant_axis_and_executes_a_vector():
    guard = Guard.from_config({"policy": "python:guard_test_policies:red_reacher", **ARM})
    decision = guard.decide(LEFT, "go to the red block", state=[0.0, 0.1, 0.2])
    assert decision.certified and decision.action == "move_y_pos" and decision.twist == (0.0, 0.0)
    assert decision.vector == pytest.approx((0.0, 0.05, 0.0, 0.0))  # the table: arm_speed along +y
    clean = Guard.from_config({"policy": "python:guard_test_policies:red_reacher", "continuous_command": "clean",
                               "arm_speed": 0.02, **ARM}).decide(LEFT, "go", state=[0.0, 0.1, 0.2])
    assert clean.action == "move_y_pos" and 0.01 <= clean.vector[1] <= 0.02 and clean.vector[0] == 0.0
    stop = guard.decide(LEFT, "stop", state=[0.0, 0.1, 0.2])
    assert stop.action == "hold" and stop.vector in ((), (0.0, 0.0, 0.0, 0.0))


def test_pgd_on_a_continuous_policy_changes_its_class_through_the_policy():
    guard = seeker()
    near_border = blocks.render(blocks.Scene([blocks.Block("red", 0.33, 0.2)]))  # forward, close to a turn
    clean = torch.from_numpy(frame_to_input(near_border, (32, 32)))
    scores = guard.attack_scores("go to the red block")
    before = guard.actions[int(guard.classifier("go to the red block")(clean[None])[0])]
    frame, achieved = Attacker("pgd", 2.0, pgd_steps=20).perturb(clean, scores=scores, actions=guard.actions)
    after = guard.actions[int(guard.classifier("go to the red block")(
        torch.from_numpy(frame_to_input(frame, (32, 32)))[None])[0])]
    assert before == "move_forward" and achieved <= 2.0 and after != before


def test_the_sensitivity_check_uses_generic_frames_and_probe_instructions_for_user_policies():
    guard = seeker()
    changes = guard.check_sensitivity()
    assert changes["image_change"] > 0.02 and changes["instruction_change"] > 0.02  # "stop" probes the instruction
    with pytest.raises(Exception, match="ignores its instruction"):
        Guard.from_config({"policy": "python:guard_test_policies:red_seeker",
                           "probe_instructions": ["go left", "go right"]})
