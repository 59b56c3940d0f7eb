"""Train the built-in arm policy on the arm world's reach task (flow matching) and save it for
``from_pretrained``.

    python -m rs_vla_guard.training.builtin_arm [--steps 5000] [--views 8000] [--out rs_vla_guard/models/builtin_arm]

Deterministic for a seed on one machine. A pool of MuJoCo views is rendered once: a random table (one to
three blocks, distractors, 20% of instructions naming an absent colour) and the arm somewhere on its
way from a start pose to the named block (where closed loop takes it), labelled with the expert's chunk
(:func:`rs_vla_guard.sim.arm.expert_chunk`) relative to the joint state. A second pool puts each target
colour at its own bearing first (red left, green ahead, blue right), so the model learns to read the
colour word before it learns to find that colour anywhere (the built-in VLM's curriculum). Every step
adds Gaussian noise at a mix of levels around the default sigma 0.25. The model's inputs are made by the
guard's own adapter, so training and deployment see the same numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from ..policies.builtin_arm import MODEL_DIR
from ..policies.builtin_arm import architecture as arch
from ..policies.pi0 import ActionStats, PI0Policy
from ..sampling import frame_to_input
from .builtin_pi0 import flow_matching_loss
from .data import NOISE_LEVELS, curriculum_at, optimisation_step, optimiser_and_schedule, save_model

CPU = torch.device("cpu")
CAMERA = (96, 96)  # the sim's camera frame; the guard resizes it to the policy's 48x48
BINDING_BEARINGS = {"red": 0.6, "green": 0.0, "blue": -0.6}


def wrap(model, processor) -> PI0Policy:
    return PI0Policy(model, processor, ActionStats(arch.ACTION_STATS, "actions"),
                     ActionStats(arch.STATE_STATS, "state"), arch.JOINTS, device=CPU, model_id="training")


def binding_scene(rng: np.random.Generator):
    from ..sim import arm

    target = str(rng.choice(list(BINDING_BEARINGS)))
    blocks = []
    for colour, bearing in BINDING_BEARINGS.items():
        if colour == target or rng.random() < 0.7:
            distance = rng.uniform(*arm.WORKSPACE[0])
            bearing += rng.uniform(-0.15, 0.15)
            blocks.append(arm.ArmBlock(colour, float(distance * np.cos(bearing)), float(distance * np.sin(bearing))))
    return blocks, target


class ArmViews:
    """Rendered views with the joint state, instruction and the expert's relative chunk."""

    def __init__(self, count: int, seed: int, binding: bool = False):
        os.environ.setdefault("MUJOCO_GL", "egl")
        from ..sim import arm

        rng = np.random.default_rng(seed)
        world = arm.ArmWorld(*CAMERA)
        inputs, states, instructions, chunks = [], [], [], []
        for _ in range(count):
            blocks, target = binding_scene(rng) if binding else arm.random_scene(rng)
            world.reset(blocks, arm.HOME)
            start = arm.random_start(rng)
            block = world.target(target)
            goal = arm.reach_pose(block.reach_point()) if block is not None else None
            # somewhere on the way (closed loop visits these), a little off it, sometimes past the goal
            along = rng.uniform(0.0, 1.15) if goal is not None else 0.0
            q = start + along * ((np.asarray(goal) if goal is not None else start) - start)
            q = np.clip(q + rng.normal(0, 0.04, size=4), world.limits[:, 0], world.limits[:, 1])
            world.set_joints(q)
            inputs.append(frame_to_input(world.frame(), (arch.IMAGE_SIZE, arch.IMAGE_SIZE)))
            states.append(q)
            instructions.append(arm.instruction_for(target))
            chunks.append(arm.expert_chunk(q, goal, arch.CHUNK_SIZE, arch.DT_S) - q)
        world.close()
        self.inputs = torch.from_numpy(np.stack(inputs))
        self.states = torch.tensor(np.stack(states), dtype=torch.float32)
        self.instructions = instructions
        self.chunks = torch.tensor(np.stack(chunks), dtype=torch.float32)

    def batch(self, rng: np.random.Generator, size: int):
        """A batch whose instructions share one token length (the colour words are one token each)."""
        index = rng.integers(len(self.instructions), size=size)
        return (self.inputs[index], [self.instructions[i] for i in index], self.states[index], self.chunks[index])


def evaluate(policy: PI0Policy, views: ArmViews, sigma: float = 0.25, seed: int = 0):
    """Mean absolute error (rad) of the chunk's last step against the expert's, clean and at ``sigma``."""
    generator = torch.Generator().manual_seed(seed)
    errors = {}
    for name, level in (("clean", 0.0), ("noisy", sigma)):
        total = 0.0
        for start in range(0, len(views.instructions), 64):
            rows = slice(start, start + 64)
            pixels = views.inputs[rows]
            pixels = pixels + level * torch.randn(pixels.shape, generator=generator)
            out = []
            for i in range(pixels.shape[0]):  # one instruction per call (the adapter's contract)
                out.append(policy.act(pixels[i:i + 1], views.instructions[start + i], views.states[start + i:start + i + 1],
                                      generator=generator))
            predicted = torch.cat(out) - views.states[rows][:, None, :]
            total += float((predicted[:, -1] - views.chunks[rows][:, -1]).abs().sum())
        errors[name] = round(total / (len(views.instructions) * len(arch.JOINTS)), 4)
    return errors



def save_probes(out: str, seed: int) -> None:
    """Eight arm-world frames with their instructions (every colour, one absent) for the guard's start-up checks."""
    from ..sim import arm

    rng = np.random.default_rng(seed)
    world = arm.ArmWorld(*CAMERA)
    frames, instructions = [], []
    for index in range(8):
        blocks, target = arm.random_scene(rng, absent_fraction=0.0 if index < 6 else 1.0)
        world.reset(blocks, arm.HOME)
        frames.append(world.frame())
        instructions.append(arm.instruction_for(target))
    world.close()
    np.savez_compressed(os.path.join(out, "probes.npz"), frames=np.stack(frames), instructions=np.array(instructions))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12000)
    parser.add_argument("--views", type=int, default=8000)
    parser.add_argument("--binding-views", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--curriculum-steps", type=int, default=400)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--out", default=MODEL_DIR)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    started = time.time()
    views = ArmViews(args.views, args.seed + 1)
    binding = ArmViews(args.binding_views, args.seed + 2, binding=True)
    heldout = ArmViews(300, args.seed + 20_000)
    print(f"rendered {args.views} + {args.binding_views} + 300 views in {time.time() - started:.0f}s", flush=True)
    tokenizer = arch.build_tokenizer()
    processor = arch.build_processor(tokenizer)
    model = arch.build_model(processor.tokenizer, seed=args.seed)
    policy = wrap(model, processor)
    optimiser, schedule = optimiser_and_schedule(model, args.lr, args.steps)
    os.makedirs(args.out, exist_ok=True)
    model.train()
    running = None
    for step in range(1, args.steps + 1):
        pool = binding if rng.random() < curriculum_at(step, args.curriculum_steps) else views
        pixels, instructions, states, chunks = pool.batch(rng, args.batch_size)
        sigmas = torch.tensor(rng.choice(NOISE_LEVELS, size=args.batch_size), dtype=torch.float32).view(-1, 1, 1, 1)
        loss = flow_matching_loss(policy, pixels + sigmas * torch.randn(pixels.shape), instructions, chunks, states)
        running = optimisation_step(loss, model, optimiser, schedule, running, step, started)
        if step % args.eval_every == 0 and step != args.steps:
            model.eval()
            print(f"eval step {step}: last-step error (rad) {evaluate(policy, heldout)}", flush=True)
            model.train()
            save_model(model, processor, args.out, arch.save_stats)
    model.eval()
    errors = evaluate(policy, heldout)
    save_model(model, processor, args.out, arch.save_stats)
    save_probes(args.out, args.seed + 30_000)
    report = {"steps": args.steps, "views": args.views, "binding_views": args.binding_views,
              "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed, "noise_levels": NOISE_LEVELS,
              "final_loss": running, "train_seconds": round(time.time() - started, 1),
              "parameters": sum(p.numel() for p in model.parameters()),
              "heldout_last_step_error_rad_clean": errors["clean"],
              "heldout_last_step_error_rad_noisy_sigma_0.25": errors["noisy"]}
    with open(os.path.join(args.out, "training_report.json"), "w") as handle:
        json.dump(report, handle, indent=2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
