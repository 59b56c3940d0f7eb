"""Train the built-in dual encoder on the "go to the <colour> block" task and save it for ``from_pretrained``.

    python -m rs_vla_guard.training.builtin_clip [--steps 3000] [--lr 0.002] [--out rs_vla_guard/models/builtin_clip]

Contrastive, as CLIP is: each image against the prompts of the four actions under its instruction (cross
entropy over cosine similarities, the right action's prompt the positive), and against the two lighting
prompts (daylight for scenes lit above 0.7, night below), so the daylight -> night direction in text
space means something to the image encoder. Scenes and noise as for the built-in VLM (a binding
curriculum first, then random layouts; lighting 0.3-1.1; Gaussian noise around sigma 0.25).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from .. import actions as A
from ..oracles import canonical_phrase
from ..sampling import frame_to_input
from ..tasks import blocks as scenes
from .data import (NOISE_LEVELS, TEMPLATES, binding_scene, curriculum_at, optimisation_step,
                            optimiser_and_schedule)
from ..policies.builtin_clip import MODEL_DIR
from ..policies.builtin_clip import architecture as clip

PHRASES = [canonical_phrase(action) for action in A.DEFAULT_ACTIONS]
DAYLIGHT_ABOVE = 0.7


def batch(rng: np.random.Generator, size: int, curriculum: float):
    """(inputs size x 3 x 64 x 64 in [0, 1], instructions, action indices, lighting indices 0 day / 1 night)."""
    images, instructions, actions, lighting = [], [], [], []
    for _ in range(size):
        scene, colour, action = binding_scene(rng) if rng.random() < curriculum else scenes.random_scene(rng)
        scene.light = float(rng.uniform(0.3, 1.1))
        width, height = [(64, 64), (160, 120), (128, 128)][int(rng.integers(3))]
        images.append(frame_to_input(scenes.render(scene, width, height), (clip.IMAGE_SIZE, clip.IMAGE_SIZE)))
        instructions.append(TEMPLATES[int(rng.integers(len(TEMPLATES)))].format(colour))
        actions.append(A.DEFAULT_ACTIONS.index(action))
        lighting.append(0 if scene.light > DAYLIGHT_ABOVE else 1)
    return torch.from_numpy(np.stack(images)), instructions, torch.tensor(actions), torch.tensor(lighting)


def features(output) -> torch.Tensor:
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def train(steps: int, out: str, seed: int = 0, batch_size: int = 64, lr: float = 1e-3) -> dict:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tokenizer, processor = clip.build_tokenizer(), clip.build_image_processor()
    model = clip.build_model(tokenizer, seed)
    optimiser, schedule = optimiser_and_schedule(model, lr, steps)
    mean = torch.tensor(processor.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(processor.image_std).view(1, 3, 1, 1)
    lighting_ids = tokenizer(list(clip.LIGHTING_PROMPTS), padding=True, return_tensors="pt")
    started, running = time.time(), None
    for step in range(1, steps + 1):
        pixels, instructions, actions, lighting = batch(rng, batch_size, curriculum_at(step, steps // 5))
        noise = torch.tensor([NOISE_LEVELS[int(i)] for i in rng.integers(len(NOISE_LEVELS), size=batch_size)])
        pixels = (pixels + noise.view(-1, 1, 1, 1) * torch.randn_like(pixels) - mean) / std
        unique = sorted(set(instructions))
        prompts = [clip.PROMPT_TEMPLATE.format(instruction=i, action=p) for i in unique for p in PHRASES]
        texts = features(model.get_text_features(**tokenizer(prompts, padding=True, return_tensors="pt")))
        texts = torch.nn.functional.normalize(texts, dim=-1).view(len(unique), len(PHRASES), -1)
        images = torch.nn.functional.normalize(features(model.get_image_features(pixel_values=pixels)), dim=-1)
        scale = model.logit_scale.exp()
        rows = torch.tensor([unique.index(i) for i in instructions])
        action_logits = scale * torch.einsum("bd,bcd->bc", images, texts[rows])
        light_texts = torch.nn.functional.normalize(features(model.get_text_features(**lighting_ids)), dim=-1)
        light_logits = scale * images @ light_texts.T
        loss = (torch.nn.functional.cross_entropy(action_logits, actions)
                + 0.5 * torch.nn.functional.cross_entropy(light_logits, lighting))
        running = optimisation_step(loss, model, optimiser, schedule, running, step, started)
    model.eval()
    report = {"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed,
              "train_seconds": round(time.time() - started, 1), "final_loss": running,
              "parameters": sum(p.numel() for p in model.parameters()), **evaluate(model, tokenizer, mean, std)}
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    processor.save_pretrained(out)
    with open(os.path.join(out, "dual_encoder.json"), "w") as handle:
        json.dump({"prompt": clip.PROMPT_TEMPLATE, "lighting_prompts": list(clip.LIGHTING_PROMPTS)}, handle, indent=1)
    with open(os.path.join(out, "training_report.json"), "w") as handle:
        json.dump(report, handle, indent=1)
    return report


@torch.no_grad()
def evaluate(model, tokenizer, mean, std, count: int = 300, seed: int = 10_000) -> dict:
    """Accuracy on clear held-out scenes (clean and at sigma 0.25) and of the lighting prompts."""
    rng = np.random.default_rng(seed)
    pixels, instructions, actions, lighting = batch(rng, count, 0.0)
    result = {}
    for name, sigma in (("clean", 0.0), ("noisy_sigma_0.25", 0.25)):
        noisy = (pixels + sigma * torch.randn(pixels.shape, generator=torch.Generator().manual_seed(1)) - mean) / std
        images = torch.nn.functional.normalize(features(model.get_image_features(pixel_values=noisy)), dim=-1)
        right = 0
        for index, instruction in enumerate(instructions):
            prompts = [clip.PROMPT_TEMPLATE.format(instruction=instruction, action=p) for p in PHRASES]
            texts = features(model.get_text_features(**tokenizer(prompts, padding=True, return_tensors="pt")))
            right += int((torch.nn.functional.normalize(texts, dim=-1) @ images[index]).argmax()) == int(actions[index])
        result[f"heldout_accuracy_{name}"] = right / count
    light = torch.nn.functional.normalize(features(model.get_text_features(
        **tokenizer(list(clip.LIGHTING_PROMPTS), padding=True, return_tensors="pt"))), dim=-1)
    images = torch.nn.functional.normalize(features(model.get_image_features(pixel_values=(pixels - mean) / std)), dim=-1)
    result["heldout_lighting_accuracy"] = float(((images @ light.T).argmax(dim=1) == lighting).float().mean())
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--out", default=MODEL_DIR)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps(train(args.steps, args.out, args.seed, lr=args.lr), indent=1))


if __name__ == "__main__":
    main()
