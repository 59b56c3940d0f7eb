"""Train the built-in policy on the "go to the <colour> block" task and save it for ``from_pretrained``.

    python -m rs_vla_guard.training.builtin [--steps 5000] [--out rs_vla_guard/models/builtin]
        [--sim-views N --sim-fraction F] [--init DIR]

Deterministic for a seed on one machine. Every step renders a fresh batch of balanced scenes (with
distractors of other colours and instructions naming absent colours, so the model must read the
colour word) and adds Gaussian noise at a mix of levels around the default sigma 0.25, so the
smoothed classifier at that sigma is accurate. The input pipeline is the guard's own
(:func:`rs_vla_guard.sampling.frame_to_input`, then the adapter's
:class:`~rs_vla_guard.policies.hf_common.PixelNormaliser`), so training and deployment see the
same pixels.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from .. import actions as A
from ..oracles import canonical_phrase
from ..sampling import frame_to_input
from ..tasks import blocks as scenes
from ..policies.hf_common import PixelNormaliser
from ..policies.builtin import MODEL_DIR
from ..policies.builtin import architecture as builtin
from .data import (NOISE_LEVELS, TEMPLATES, SimViews, curriculum_at, optimisation_step, optimiser_and_schedule,
                   render_batch, training_and_heldout_views)

# The answer the policy learns for each action: the phrase score mode scores for it.
ANSWERS = {action: canonical_phrase(action) for action in A.DEFAULT_ACTIONS}


class Batcher:
    """Token ids and labels: prompt (image tokens + instruction) then answer + eos, loss on the answer."""

    def __init__(self, processor):
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.dummy = np.zeros((builtin.IMAGE_SIZE, builtin.IMAGE_SIZE, 3), np.uint8)
        self.answers = {a: self.tokenizer(p, add_special_tokens=False).input_ids + [self.tokenizer.eos_token_id]
                        for a, p in ANSWERS.items()}
        self.width = max(len(ids) for ids in self.answers.values())
        self._prompts = {}

    def prompt_ids(self, instruction: str) -> list:
        if instruction not in self._prompts:
            text = builtin.PROMPT_TEMPLATE.format(instruction=instruction)
            ids = self.processor(images=[self.dummy], text=[text], return_tensors="pt").input_ids[0].tolist()
            self._prompts[instruction] = ids
        return self._prompts[instruction]

    def __call__(self, instructions, actions):
        rows, labels = [], []
        for instruction, action in zip(instructions, actions):
            prompt = self.prompt_ids(instruction)
            answer = self.answers[action]
            pad = self.width - len(answer)
            rows.append(prompt + answer + [self.tokenizer.pad_token_id] * pad)
            labels.append([-100] * len(prompt) + answer + [-100] * pad)
        return torch.tensor(rows), torch.tensor(labels)


def normalise(pixels: torch.Tensor, processor) -> torch.Tensor:
    """The model's pixel values, exactly as the guard's adapter computes them."""
    return PixelNormaliser(processor.image_processor, pixels.device)(pixels)


def predict(model, processor, batcher, pixels, instructions):
    """The most likely answer (by summed log-likelihood, as the guard's score mode) for each input."""
    names = list(batcher.answers)
    scores = []
    for action in names:
        rows, labels = batcher(instructions, [action] * len(instructions))
        out = model(input_ids=rows, pixel_values=normalise(pixels, processor))
        logp = torch.log_softmax(out.logits[:, :-1].float(), -1)
        mask = labels[:, 1:] != -100
        token_logp = logp.gather(-1, rows[:, 1:].unsqueeze(-1)).squeeze(-1)
        scores.append((token_logp * mask).sum(1))
    return [names[i] for i in torch.stack(scores, 1).argmax(1).tolist()]


def evaluate_sim(model, processor, batcher, views: "SimViews", sigma=0.25):
    """Clean and noisy accuracy on held-out MuJoCo views."""
    model.eval()
    hits = {"clean": 0, "noisy": 0}
    with torch.inference_mode():
        for start in range(0, len(views), 50):
            pixels = torch.from_numpy(views.inputs[start:start + 50])
            instructions = [scenes.instruction_for(c) for c in views.colours[start:start + 50]]
            for tally in hits:
                x = pixels + sigma * torch.randn(pixels.shape) if tally == "noisy" else pixels
                predicted = predict(model, processor, batcher, x, instructions)
                hits[tally] += sum(p == a for p, a in zip(predicted, views.actions[start:start + 50]))
    model.train()
    return hits["clean"] / len(views), hits["noisy"] / len(views)


def evaluate(model, processor, batcher, rng, count=400, sigma=0.25):
    """Accuracy on held-out clear scenes (margin 0.05): clean, with one noise draw at ``sigma``, and the
    clean accuracy per case (each action; ``absent`` = the named colour is not in the frame)."""
    model.eval()
    hits = {"clean": 0, "noisy": 0}
    per_case = {}
    with torch.inference_mode():
        for start in range(0, count, 50):
            pixels, instructions, actions, cases = [], [], [], []
            for _ in range(50):
                scene, colour, action = scenes.random_scene(rng, margin=0.05)
                pixels.append(frame_to_input(scenes.render(scene, 160, 120), (builtin.IMAGE_SIZE,) * 2))
                instructions.append(scenes.instruction_for(colour))
                actions.append(action)
                cases.append("absent" if scene.target(colour) is None else action)
            pixels = torch.from_numpy(np.stack(pixels))
            for tally in ("clean", "noisy"):
                x = pixels + sigma * torch.randn(pixels.shape) if tally == "noisy" else pixels
                predicted = predict(model, processor, batcher, x, instructions)
                for guess, truth, case in zip(predicted, actions, cases):
                    hits[tally] += guess == truth
                    if tally == "clean":
                        right, total = per_case.get(case, (0, 0))
                        per_case[case] = (right + (guess == truth), total + 1)
    model.train()
    cases = {case: round(right / total, 3) for case, (right, total) in sorted(per_case.items())}
    return hits["clean"] / count, hits["noisy"] / count, cases


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=MODEL_DIR)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--curriculum-steps", type=int, default=400)
    parser.add_argument("--sim-views", type=int, default=0,
                        help="pre-rendered MuJoCo camera views to mix in (needs mujoco; 0 = renderer only)")
    parser.add_argument("--sim-fraction", type=float, default=0.35, help="share of each batch from the sim views")
    parser.add_argument("--init", default=None,
                        help="fine-tune from this saved model directory instead of a fresh initialisation")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    eval_rng_seed = args.seed + 10_000
    tokenizer = builtin.build_tokenizer()
    processor = builtin.build_processor(tokenizer)
    if args.init:
        from transformers import AutoModelForImageTextToText

        model = AutoModelForImageTextToText.from_pretrained(args.init, dtype=torch.float32)
    else:
        model = builtin.build_model(tokenizer, seed=args.seed)
    model.train()
    batcher = Batcher(processor)
    optimiser, schedule = optimiser_and_schedule(model, args.lr, args.steps)
    started = time.time()
    sim_views, sim_eval = training_and_heldout_views(args.sim_views, args.seed)
    running = None
    for step in range(1, args.steps + 1):
        template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
        curriculum = curriculum_at(step, args.curriculum_steps)
        pixels, instructions, actions = render_batch(rng, args.batch_size, template, curriculum, sim_views,
                                                     args.sim_fraction)
        sigmas = torch.tensor(rng.choice(NOISE_LEVELS, size=args.batch_size), dtype=torch.float32).view(-1, 1, 1, 1)
        noisy = pixels + sigmas * torch.randn(pixels.shape)
        rows, labels = batcher(instructions, actions)
        loss = model(input_ids=rows, pixel_values=normalise(noisy, processor), labels=labels).loss
        running = optimisation_step(loss, model, optimiser, schedule, running, step, started)
        if step % args.eval_every == 0 or step == args.steps:
            clean, noisy_acc, cases = evaluate(model, processor, batcher, np.random.default_rng(eval_rng_seed))
            print(f"eval step {step}: clean {clean:.3f} noisy(0.25) {noisy_acc:.3f} by case {cases}", flush=True)
            if sim_eval is not None:
                print("  sim views: clean %.3f noisy(0.25) %.3f" % evaluate_sim(model, processor, batcher, sim_eval),
                      flush=True)
            model.save_pretrained(args.out)  # a usable checkpoint at every evaluation
            processor.save_pretrained(args.out)
    model.eval()
    model.save_pretrained(args.out)
    processor.save_pretrained(args.out)
    clean, noisy_acc, cases = evaluate(model, processor, batcher, np.random.default_rng(eval_rng_seed), count=1000)
    report = {
        "steps": args.steps, "curriculum_steps": args.curriculum_steps, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
        "noise_levels": NOISE_LEVELS, "train_seconds": round(time.time() - started, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "heldout_clear_accuracy_clean": clean, "heldout_clear_accuracy_noisy_sigma_0.25": noisy_acc,
        "heldout_clear_accuracy_clean_by_case": cases,
        "init": args.init, "sim_views": args.sim_views, "sim_fraction": args.sim_fraction if args.sim_views else 0.0,
        "final_loss": running,
    }
    if sim_eval is not None:
        report["heldout_sim_accuracy_clean"], report["heldout_sim_accuracy_noisy_sigma_0.25"] = evaluate_sim(
            model, processor, batcher, sim_eval)
    with open(f"{args.out}/training_report.json", "w") as handle:
        json.dump(report, handle, indent=2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
