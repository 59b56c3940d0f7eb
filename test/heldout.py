"""Held-out scenes of the block task for the built-in policies' acceptance tests: rendered at three camera
sizes, each with its instruction and ground-truth action; "clear" (margin 0.05): the target centre is at
least 0.05 W from the 0.35/0.65 borders and its width at least 0.05 W from 0.4 W."""
import numpy as np

from rs_vla_guard.tasks import blocks


def heldout_frames(count: int, seed: int):
    """[(frame, instruction, action)] of ``count`` clear scenes from ``seed`` (a seed training never uses)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        scene, colour, action = blocks.random_scene(rng, margin=0.05)
        size = [(160, 120), (128, 128), (320, 240)][i % 3]
        out.append((blocks.render(scene, *size), blocks.instruction_for(colour), action))
    return out
