"""Fine-tune the built-in action-token policy on the block task and save it for ``from_pretrained``.

    python -m rs_vla_guard.training.builtin_tokens [--steps 2000] [--init rs_vla_guard/models/builtin]
        [--out rs_vla_guard/models/builtin_tokens]

Deterministic for a seed on one machine. Starts from the built-in VLM (which already reads the colour word
and finds the block) with 256 action tokens added, and teaches it to answer each scene with two action
tokens: the task's continuous controller (``tasks.blocks.command_for_view``: forward speed, yaw rate),
normalised with the q01/q99 of ``architecture.ACTION_STATS`` and binned as the adapter decodes them. The
targets are soft (a Gaussian over neighbouring bins, ``--label-bins`` wide), so a near miss costs less than
a far one. Every step renders fresh scenes with noise at a mix of levels around sigma 0.25; prompts and
pixel normalisation are the adapter's own (:class:`~rs_vla_guard.policies.action_tokens.ActionTokenVLM`),
so training and deployment see the same numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from ..oracles import BinningOracle
from ..tasks import blocks as scenes
from ..policies.action_tokens import ActionTokenVLM
from ..policies.builtin import MODEL_DIR as BUILTIN_DIR
from .data import (NOISE_LEVELS, TEMPLATES, curriculum_at, heldout_scenes, optimisation_step,
                            optimiser_and_schedule, render_batch, save_model)
from ..policies.statistics import ActionStats
from ..policies.builtin_tokens import MODEL_DIR
from ..policies.builtin_tokens import architecture as arch

CPU = torch.device("cpu")


def wrap(model, processor) -> ActionTokenVLM:
    """The guard's adapter around the model being trained (prompt, pixels and decoding as deployed). Made
    afresh for each evaluation: it caches the prompt's keys and values, which training changes."""
    return ActionTokenVLM(model, processor, actions=ActionStats(arch.ACTION_STATS, "actions"),
                          names=arch.ACTION_NAMES, bins=arch.ACTION_BINS, device=CPU, model_id="training")


class Batcher:
    """Token ids of prompt + the two answer tokens, the answer positions, and soft bin targets."""

    def __init__(self, adapter: ActionTokenVLM, label_bins: float):
        self.adapter = adapter
        self.codec = adapter.codec
        self.stats = ActionStats(arch.ACTION_STATS, "actions")
        self.prompts = {}
        bins = torch.arange(arch.ACTION_BINS, dtype=torch.float32)
        self.kernel = lambda centre: torch.softmax(-0.5 * ((bins - centre) / label_bins) ** 2, -1)  # noqa: E731

    def prompt_ids(self, instruction: str) -> list:
        if instruction not in self.prompts:
            self.prompts[instruction] = self.adapter._prepare(instruction).static["input_ids"][0].tolist()
        return self.prompts[instruction]

    def __call__(self, instructions, commands: torch.Tensor):
        answers = self.codec.tokens(self.stats.normalise(commands))  # B x 2 action token ids
        rows = [self.prompt_ids(text) + answer.tolist() for text, answer in zip(instructions, answers)]
        length = {len(row) for row in rows}
        if len(length) != 1:
            raise ValueError("one template per batch: every prompt must have the same length")
        targets = torch.stack([torch.stack([self.kernel(float(token - self.codec.first)) for token in answer])
                               for answer in answers])  # B x 2 x bins
        return torch.tensor(rows), targets


def token_loss(model, processor, batcher: Batcher, pixels, instructions, commands) -> torch.Tensor:
    rows, targets = batcher(instructions, commands)
    pixel_values = batcher.adapter._normalise(pixels)
    logits = model(input_ids=rows, pixel_values=pixel_values).logits[:, -3:-1]  # predicting answer tokens 1, 2
    codec = batcher.codec
    log_probs = torch.log_softmax(logits[..., codec.first:codec.vocab_end].float(), -1)
    return -(targets * log_probs).sum(-1).mean()


def evaluate(model, processor, inputs, instructions, truths, sigma=0.25, seed=0):
    """(clean accuracy, accuracy with one noise draw at ``sigma``) of the binned decoded action."""
    model.eval()
    adapter, oracle = wrap(model, processor), BinningOracle(list(scenes.ACTIONS))
    generator = torch.Generator().manual_seed(seed)
    figures = []
    for noisy in (False, True):
        pixels = inputs + sigma * torch.randn(inputs.shape, generator=generator) if noisy else inputs
        labels = []
        for index in range(len(instructions)):  # one instruction per call, as the guard decides
            labels.append(oracle.actions[int(oracle(adapter.act(pixels[index:index + 1], instructions[index]))[0])])
        figures.append(round(float(np.mean([a == t for a, t in zip(labels, truths)])), 4))
    model.train()
    return tuple(figures)



def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--init", default=BUILTIN_DIR, help="start from this built-in VLM directory ('' = fresh)")
    parser.add_argument("--out", default=MODEL_DIR)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--eval-scenes", type=int, default=300)
    parser.add_argument("--curriculum-steps", type=int, default=0)
    parser.add_argument("--label-bins", type=float, default=2.0, help="std of the soft targets, in bins")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    tokenizer = arch.build_tokenizer()
    processor = arch.build_processor(tokenizer)
    model = arch.build_model(tokenizer, seed=args.seed, init=args.init or None)
    model.train()
    batcher = Batcher(wrap(model, processor), args.label_bins)
    optimiser, schedule = optimiser_and_schedule(model, args.lr, args.steps)
    heldout = heldout_scenes(args.seed + 10_000, args.eval_scenes)
    started, running = time.time(), None
    for step in range(1, args.steps + 1):
        template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
        pixels, instructions, _, commands = render_batch(rng, args.batch_size, template,
                                                         curriculum_at(step, args.curriculum_steps)
                                                         if args.curriculum_steps else 0.0, with_commands=True)
        sigmas = torch.tensor(rng.choice(NOISE_LEVELS, size=args.batch_size), dtype=torch.float32).view(-1, 1, 1, 1)
        loss = token_loss(model, processor, batcher, pixels + sigmas * torch.randn(pixels.shape), instructions,
                          commands)
        running = optimisation_step(loss, model, optimiser, schedule, running, step, started)
        if step % args.eval_every == 0 and step != args.steps:
            print(f"eval step {step}: (clean, noisy 0.25) {evaluate(model, processor, *heldout)}", flush=True)
            save_model(model, processor, args.out, arch.save_stats)  # a usable checkpoint at every evaluation
    figures = evaluate(model, processor, *heldout)
    save_model(model, processor, args.out, arch.save_stats)
    report = {
        "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
        "init": os.path.relpath(args.init) if args.init else None, "label_bins": args.label_bins,
        "noise_levels": NOISE_LEVELS, "final_loss": running, "train_seconds": round(time.time() - started, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "heldout_renderer_accuracy_clean": figures[0], "heldout_renderer_accuracy_noisy_sigma_0.25": figures[1],
    }
    with open(os.path.join(args.out, "training_report.json"), "w") as handle:
        json.dump(report, handle, indent=2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
