"""Training data of the built-in policies: the block task's scenes, a binding curriculum, and pre-rendered
MuJoCo camera views, with each sample's ground-truth action and continuous command. Shared by the
built-in VLM's and the built-in pi0's training scripts (offline tools: the guard never imports this)."""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from ..sampling import frame_to_input
from ..tasks import blocks as scenes

IMAGE_SIZE = 64
NOISE_LEVELS = (0.0, 0.15, 0.25, 0.25, 0.3)  # Gaussian noise levels, mixed, around the default sigma 0.25
TEMPLATES = ("go to the {} block", "go to the {} block", "drive to the {} block", "move to the {} block",
             "head for the {} block")


def binding_scene(rng: np.random.Generator):
    """Curriculum scene where the colour word alone decides the action: red always left, green ahead,
    blue always right (one of them sometimes missing -> stop).

    With random layouts the colour word carries no information on its own (only together with where that
    colour is), so at initialisation there is no gradient towards reading it, and a small model settles on
    "go to any block" (seen: outputs identical for every colour word after 3,000 steps). Starting with
    these scenes makes the model carry the colour word to the answer position first; random layouts then
    teach it to match that colour against the image.
    """
    slots = {"red": 0.15, "green": 0.5, "blue": 0.85}
    colour = str(rng.choice(scenes.TARGET_COLOURS))
    missing = colour if rng.random() < 0.2 else None
    blocks = [scenes.Block(c, x + rng.uniform(-0.08, 0.08), float(rng.uniform(0.1, 0.25)))
              for c, x in slots.items() if c != missing]
    scene = scenes.Scene(blocks, floor=str(rng.choice(["plain", "textured"])))
    return scene, colour, scenes.ground_truth_action(scene, colour)


class SimViews:
    """A pool of labelled MuJoCo camera views (rendering is slow, so they are rendered once, seeded), with
    each view's ground-truth action and continuous command."""

    def __init__(self, count: int, seed: int):
        import os

        os.environ.setdefault("MUJOCO_GL", "egl")
        from ..sim.world import World, random_view

        rng = np.random.default_rng(seed)
        world = World()
        views = []
        for _ in range(count):
            frame, colour, action = random_view(rng, world)
            views.append((frame, colour, action, world.ground_truth_command(colour)))
        world.close()
        self.inputs = np.stack([frame_to_input(view[0], (IMAGE_SIZE, IMAGE_SIZE)) for view in views])
        self.colours = [view[1] for view in views]
        self.actions = [view[2] for view in views]
        self.commands = [view[3] for view in views]

    def __len__(self):
        return len(self.actions)


def render_batch(rng: np.random.Generator, size: int, template: str, curriculum: float = 0.0,
                 sim_views: "SimViews" = None, sim_fraction: float = 0.0, with_commands: bool = False):
    """Inputs (size x 3 x 64 x 64 in [0,1]), instructions and ground-truth actions of fresh scenes (and,
    ``with_commands``, the continuous commands as a size x 2 tensor); a ``curriculum`` fraction of them
    are :func:`binding_scene` scenes, a ``sim_fraction`` of the rest views from ``sim_views``."""
    images, actions, colours, commands = [], [], [], []
    for _ in range(size):
        if sim_views is not None and rng.random() < sim_fraction * (1 - curriculum):
            index = int(rng.integers(len(sim_views)))
            images.append(sim_views.inputs[index])
            actions.append(sim_views.actions[index])
            colours.append(sim_views.colours[index])
            commands.append(sim_views.commands[index])
            continue
        if rng.random() < curriculum:
            scene, colour, action = binding_scene(rng)
        else:
            scene, colour, action = scenes.random_scene(rng)
        # Mixed camera resolutions, so resampling differences are in distribution.
        width, height = [(64, 64), (160, 120), (128, 128), (96, 72)][int(rng.integers(4))]
        images.append(frame_to_input(scenes.render(scene, width, height), (IMAGE_SIZE, IMAGE_SIZE)))
        actions.append(action)
        colours.append(colour)
        commands.append(scenes.ground_truth_command(scene, colour))
    batch = (torch.from_numpy(np.stack(images)), [template.format(c) for c in colours], actions)
    if with_commands:
        return batch + (torch.tensor(commands, dtype=torch.float32),)
    return batch




def optimiser_and_schedule(model, lr: float, steps: int):
    """AdamW with a linear warm-up over the first 5% of ``steps``, then a cosine decay to zero."""
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps)))
    return optimiser, schedule


def curriculum_at(step: int, curriculum_steps: int) -> float:
    """Share of binding scenes at ``step``: all of them at first, fading out linearly by 3x the curriculum."""
    return min(1.0, max(0.0, 1.5 - 0.5 * step / max(curriculum_steps, 1)))


def training_and_heldout_views(count: int, seed: int):
    """(training views, 300 held-out views) of the MuJoCo arena, or (None, None) when ``count`` is 0."""
    if not count:
        return None, None
    started = time.time()
    views, heldout = SimViews(count, seed=seed + 1), SimViews(300, seed=seed + 20_000)
    print(f"rendered {count} + 300 sim views in {time.time() - started:.0f}s; actions "
          f"{dict(zip(*np.unique(views.actions, return_counts=True)))}", flush=True)
    return views, heldout


def optimisation_step(loss: torch.Tensor, model, optimiser, schedule, running, step: int, started: float) -> float:
    """One step of every built-in training script: backward, clip the gradient norm to 1, step the optimiser
    and the schedule; returns the running loss (exponential average), printed every 100 steps."""
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimiser.step()
    schedule.step()
    optimiser.zero_grad(set_to_none=True)
    running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
    if step % 100 == 0:
        print(f"step {step:5d} loss {running:.4f} lr {schedule.get_last_lr()[0]:.2e} {time.time() - started:.0f}s",
              flush=True)
    return running


def save_model(model, processor, out: str, save_stats) -> None:
    """Weights, processor and ``save_stats(out)``'s statistics, for ``from_pretrained`` (a checkpoint at
    every evaluation, so a run cut short leaves a usable model)."""
    import os

    model.eval()
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    save_stats(out)
    model.train()


def heldout_scenes(seed: int, count: int):
    """(inputs count x 3 x 64 x 64, instructions, ground-truth actions) of clear renderer scenes (margin 0.05)
    from a seed training does not draw from: what the continuous policies' training scripts evaluate on."""
    rng = np.random.default_rng(seed)
    inputs, instructions, truths = [], [], []
    for _ in range(count):
        scene, colour, action = scenes.random_scene(rng, margin=0.05)
        inputs.append(frame_to_input(scenes.render(scene, 160, 120), (IMAGE_SIZE, IMAGE_SIZE)))
        instructions.append(scenes.instruction_for(colour))
        truths.append(action)
    return torch.from_numpy(np.stack(inputs)), instructions, truths
