"""Train the built-in pi0 on the block task (flow matching) and save it for ``from_pretrained``.

    python -m rs_vla_guard.training.builtin_pi0 [--steps 6000] [--out rs_vla_guard/models/builtin_pi0]
        [--sim-views N --sim-fraction F] [--init DIR]

Deterministic for a seed on one machine. Every step renders a fresh batch of balanced scenes (with
distractors and instructions naming absent colours, as for the built-in VLM; MuJoCo camera views mixed in
with ``--sim-views``), adds Gaussian noise at a mix of levels around the default sigma 0.25, and trains
the model to output the task's continuous controller (``tasks.blocks.command_for_view``: linear x,
angular z) for every step of its chunk. The model's inputs are made by the guard's own adapter
(:class:`~rs_vla_guard.policies.pi0.PI0Policy`: prompt ids, pixel normalisation), so training and
deployment see the same numbers.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from ..oracles import BinningOracle
from ..tasks import blocks as scenes
from .data import (NOISE_LEVELS, TEMPLATES, curriculum_at, heldout_scenes, optimisation_step,
                            optimiser_and_schedule, render_batch, training_and_heldout_views, save_model)
from ..policies.pi0 import ActionStats, PI0Policy
from ..policies.builtin_pi0 import MODEL_DIR
from ..policies.builtin_pi0 import architecture as arch

CPU = torch.device("cpu")


def wrap(model, processor) -> PI0Policy:
    """The guard's adapter around the model being trained (inputs, noise and un-normalisation as deployed)."""
    return PI0Policy(model, processor, ActionStats(arch.ACTION_STATS, "actions"), None, arch.ACTION_NAMES,
                     device=CPU, model_id="training")


def flow_matching_loss(policy: PI0Policy, pixels: torch.Tensor, instructions, commands: torch.Tensor,
                       state: torch.Tensor = None) -> torch.Tensor:
    """pi0's training loss on a batch whose instructions all have the same token length (one template).
    ``commands``: B x D (every step of the chunk) or B x chunk x D, in robot units (relative to ``state``,
    B x state dims, when the policy's actions are)."""
    model = policy.model
    batch = pixels.shape[0]
    prompts = [policy._prompt(text) for text in instructions]
    ids = torch.cat([ids for ids, _ in prompts])
    mask = torch.cat([mask for _, mask in prompts])
    pixel_values = policy._normalise(pixels).reshape(batch, 1, 3, *pixels.shape[2:])
    targets = policy.actions.normalise(commands)
    if targets.ndim == 2:
        targets = targets[:, None, :].expand(-1, model.config.chunk_size, -1)
    padded_state = policy._state(state, batch) if state is not None else torch.zeros(batch, model.config.max_state_dim)
    out = model(state=padded_state, actions=targets.contiguous(), input_ids=ids,
                attention_mask=mask, pixel_values=pixel_values,
                pixel_attention_mask=torch.ones(batch, 1, dtype=torch.bool))
    return out.loss


def classify(policy: PI0Policy, oracle: BinningOracle, pixels: torch.Tensor, instructions, generator) -> list:
    """The guard's base classifier at its defaults: the first step of the chunk, binned."""
    labels = []
    for start in range(0, len(instructions), 50):
        block = slice(start, start + 50)
        actions = [policy.act(pixels[i:i + 1], text, generator=generator)[:, 0] for i, text in
                   zip(range(block.start, min(block.stop, len(instructions))), instructions[block])]
        labels += [oracle.actions[int(i)] for i in oracle(torch.cat(actions))]
    return labels


def evaluate(policy, oracle, inputs, instructions, truths, sigma=0.25, seed=0):
    """(clean accuracy, accuracy with one noise draw at ``sigma``) of the binned first action step."""
    generator = torch.Generator().manual_seed(seed)
    clean = classify(policy, oracle, inputs, instructions, generator)
    noisy = classify(policy, oracle, inputs + sigma * torch.randn(inputs.shape, generator=generator), instructions,
                     generator)
    return (round(float(np.mean([a == t for a, t in zip(clean, truths)])), 4),
            round(float(np.mean([a == t for a, t in zip(noisy, truths)])), 4))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=MODEL_DIR)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--curriculum-steps", type=int, default=400)
    parser.add_argument("--sim-views", type=int, default=0, help="pre-rendered MuJoCo views to mix in (0 = none)")
    parser.add_argument("--sim-fraction", type=float, default=0.35, help="share of each batch from the sim views")
    parser.add_argument("--init", default=None, help="fine-tune from this saved model directory")
    parser.add_argument("--eval-scenes", type=int, default=400, help="held-out renderer scenes per evaluation")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    tokenizer = arch.build_tokenizer()
    processor = arch.build_processor(tokenizer)
    if args.init:
        from transformers import PI0ForConditionalGeneration

        model = PI0ForConditionalGeneration.from_pretrained(args.init, dtype=torch.float32)
    else:
        model = arch.build_model(processor.tokenizer, seed=args.seed)
    policy = wrap(model, processor)
    oracle = BinningOracle(list(scenes.ACTIONS))
    optimiser, schedule = optimiser_and_schedule(model, args.lr, args.steps)
    started = time.time()
    sim_views, sim_eval = training_and_heldout_views(args.sim_views, args.seed)
    heldout = heldout_scenes(args.seed + 10_000, args.eval_scenes)

    def report_accuracy(step):
        model.eval()
        figures = {"renderer": evaluate(policy, oracle, *heldout)}
        if sim_eval is not None:
            figures["sim"] = evaluate(policy, oracle, torch.from_numpy(sim_eval.inputs),
                                      [scenes.instruction_for(c) for c in sim_eval.colours], sim_eval.actions)
        model.train()
        print(f"eval step {step}: (clean, noisy 0.25) {figures}", flush=True)
        return figures

    model.train()
    running = None
    for step in range(1, args.steps + 1):
        template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
        curriculum = curriculum_at(step, args.curriculum_steps)
        pixels, instructions, _, commands = render_batch(rng, args.batch_size, template, curriculum, sim_views,
                                                         args.sim_fraction, with_commands=True)
        sigmas = torch.tensor(rng.choice(NOISE_LEVELS, size=args.batch_size), dtype=torch.float32).view(-1, 1, 1, 1)
        loss = flow_matching_loss(policy, pixels + sigmas * torch.randn(pixels.shape), instructions, commands)
        running = optimisation_step(loss, model, optimiser, schedule, running, step, started)
        if step % args.eval_every == 0 and step != args.steps:
            report_accuracy(step)
            save_model(model, processor, args.out, arch.save_stats)  # a usable checkpoint at every evaluation
    figures = report_accuracy(args.steps)
    save_model(model, processor, args.out, arch.save_stats)
    report = {
        "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed, "init": args.init,
        "curriculum_steps": args.curriculum_steps, "noise_levels": NOISE_LEVELS, "sim_views": args.sim_views,
        "sim_fraction": args.sim_fraction if args.sim_views else 0.0, "final_loss": running,
        "train_seconds": round(time.time() - started, 1), "parameters": sum(p.numel() for p in model.parameters()),
        "heldout_renderer_accuracy_clean": figures["renderer"][0],
        "heldout_renderer_accuracy_noisy_sigma_0.25": figures["renderer"][1],
    }
    if "sim" in figures:
        report["heldout_sim_accuracy_clean"], report["heldout_sim_accuracy_noisy_sigma_0.25"] = figures["sim"]
    with open(f"{args.out}/training_report.json", "w") as handle:
        json.dump(report, handle, indent=2)
    print(json.dumps(report, indent=2))



if __name__ == "__main__":
    main()
