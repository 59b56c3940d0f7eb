"""The MuJoCo arena: camera geometry, diff-drive motion in sim time, contacts, ground truth."""
import math

import numpy as np
import pytest

from rs_vla_guard.sim.world import PlacedBlock, random_episode

pytestmark = [pytest.mark.sim, pytest.mark.model]


def red_columns(frame):
    red = (frame[:, :, 0] > 150) & (frame[:, :, 1] < 90) & (frame[:, :, 2] < 90)
    columns = np.where(red.any(axis=0))[0] / frame.shape[1]
    return (columns.min(), columns.max()) if len(columns) else None


@pytest.mark.parametrize("y,expected", [(0.0, "move_forward"), (0.6, "turn_left"), (-0.6, "turn_right")])
def test_camera_sees_the_block_where_the_ground_truth_puts_it(world, y, expected):
    world.reset([PlacedBlock("red", 1.6, y), PlacedBlock("blue", -1.5, 1.5)], (0.0, 0.0, 0.0))
    frame = world.frame()
    assert frame.shape == (120, 160, 3) and frame.dtype == np.uint8
    seen = red_columns(frame)
    centre, width = world.view_of(world.blocks[0])
    # The projection matches the render, up to the block's side face that an oblique view also shows.
    assert seen is not None and abs((seen[0] + seen[1]) / 2 - centre) < 0.05
    assert abs((seen[1] - seen[0]) - width) < 0.06
    assert world.ground_truth_action("red") == expected
    assert world.ground_truth_action("blue") == "stop"  # behind the robot
    assert world.ground_truth_action("green") == "stop"  # not in the arena


def test_diff_drive_follows_commands_in_sim_time(world):
    world.reset([], (0.0, 0.0, 0.0))
    world.step(0.2, 0.0, 2.0)
    x, y, yaw = world.pose()
    assert world.time == pytest.approx(2.0) and x == pytest.approx(0.4, abs=1e-3) and abs(y) < 1e-6
    world.step(0.0, 0.6, 1.0)
    assert world.pose()[2] == pytest.approx(0.6, abs=1e-3)
    world.step(0.2, 0.0, 1.0)
    x2, y2, _ = world.pose()
    assert (x2 - x, y2 - y) == pytest.approx((0.2 * math.cos(0.6), 0.2 * math.sin(0.6)), abs=2e-3)


def test_driving_into_a_block_is_stopped_and_reported(world):
    world.reset([PlacedBlock("red", 0.6, 0.0)], (0.0, 0.0, 0.0))
    world.step(0.3, 0.0, 3.0)
    assert world.pose()[0] < 0.6 - 0.15 - 0.15 + 0.02  # chassis front stops at the block's face
    assert "block_0" in world.touching()
    world.reset([PlacedBlock("red", 0.6, 0.0)], (0.0, 0.0, 0.0))
    assert world.touching() == []


def test_random_episodes_are_seeded_and_separated():
    a, b = random_episode(np.random.default_rng(3)), random_episode(np.random.default_rng(3))
    assert a == b
    blocks, robot, target = a
    assert target in {block.colour for block in blocks} and len({block.colour for block in blocks}) == 3
    for i, block in enumerate(blocks):
        assert math.hypot(block.x - robot[0], block.y - robot[1]) > 1.0 + 0.2 * (i > 0)
        assert all(math.hypot(block.x - o.x, block.y - o.y) > 1.0 for o in blocks[i + 1:])


def test_episodes_start_with_the_target_in_view(world):
    rng = np.random.default_rng(11)
    for _ in range(20):
        blocks, robot, target = random_episode(rng)
        world.reset(blocks, robot)
        assert world.ground_truth_action(target) != "stop"  # in view and not yet reached


def test_bearing_is_positive_to_the_left(world):
    world.reset([PlacedBlock("red", 1.0, 1.0)], (0.0, 0.0, 0.0))
    assert world.bearing_to(world.blocks[0]) == pytest.approx(math.pi / 4)
    world.reset([PlacedBlock("red", 1.0, 1.0)], (0.0, 0.0, math.pi))
    assert world.bearing_to(world.blocks[0]) == pytest.approx(-3 * math.pi / 4)
