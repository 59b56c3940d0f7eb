"""The task renderer and its ground truth."""
import numpy as np
import pytest

from rs_vla_guard.tasks import blocks as scenes
from rs_vla_guard.tasks.blocks import Block, Scene


@pytest.mark.parametrize("blocks,target,action", [
    ([], "red", "stop"),
    ([Block("red", 0.2, 0.1)], "red", "turn_left"),
    ([Block("red", 0.8, 0.1)], "red", "turn_right"),
    ([Block("red", 0.5, 0.1)], "red", "move_forward"),
    ([Block("red", 0.5, 0.45)], "red", "stop"),
    ([Block("red", 0.5, 0.1)], "blue", "stop"),
    ([Block("green", 0.2, 0.1), Block("blue", 0.8, 0.1)], "blue", "turn_right"),
])
def test_ground_truth_rules(blocks, target, action):
    assert scenes.ground_truth_action(Scene(blocks), target) == action


def test_render_shape_and_block_position():
    frame = scenes.render(Scene([Block("red", 0.25, 0.1)]), 200, 100)
    assert frame.shape == (100, 200, 3) and frame.dtype == np.uint8
    red = (frame[..., 0] > 150) & (frame[..., 1] < 80)
    columns = np.nonzero(red.any(axis=0))[0]
    assert abs(columns.mean() / 200 - 0.25) < 0.01
    assert abs((columns.max() - columns.min() + 1) / 200 - 0.1) < 0.02


def test_random_scenes_match_their_labels_and_margins():
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(300):
        scene, target, action = scenes.random_scene(rng, margin=0.05)
        assert scenes.ground_truth_action(scene, target) == action
        assert scenes.is_clear(scene, target)
        colours = [b.colour for b in scene.blocks]
        assert len(colours) == len(set(colours))
        seen.add(action)
    assert seen == set(scenes.ACTIONS)


def test_unknown_colour_is_rejected():
    with pytest.raises(ValueError, match="colour"):
        Block("chartreuse", 0.5, 0.1)
