"""The built-in pi0's architecture: a tiny ``PI0ForConditionalGeneration`` from configs.

This file only *builds* an untrained model, its tokenizer, processor and action statistics; training is
``python -m rs_vla_guard.training.builtin_pi0``. Same family as the real pi0 (PaliGemma: SigLIP
vision + Gemma; a Gemma action expert attending to the prompt's keys and values; flow matching), scaled
down to 64x64 images (16 image tokens), hidden size 64 and two layers each.
"""
from __future__ import annotations

import json
import os

IMAGE_SIZE = 64
PATCH_SIZE = 16
HIDDEN_SIZE = 64
LAYERS = 2
CHUNK_SIZE = 4  # action steps per chunk; the guard's oracle averages the first `chunk_steps`
NUM_STEPS = 4  # flow-matching (Euler) steps at inference
ACTION_NAMES = ["linear_x", "angular_z"]
# Normalisation of the controller's outputs (linear x in [0, 0.3] m/s, yaw in [-0.8, 0.8] rad/s).
ACTION_STATS = {"mean": [0.1, 0.0], "std": [0.1, 0.4]}


def build_tokenizer():
    """The built-in VLM's word-level vocabulary, padded on the right, with a beginning-of-sequence token."""
    from ..builtin.architecture import build_tokenizer as vlm_tokenizer

    tokenizer = vlm_tokenizer()
    tokenizer.padding_side = "right"
    return tokenizer


def build_processor(tokenizer=None, *, image_size: int = IMAGE_SIZE, patch_size: int = PATCH_SIZE,
                    chunk_size: int = CHUNK_SIZE, action_stats=ACTION_STATS, state_dim: int = len(ACTION_NAMES)):
    """pi0's processor for a tiny model (the built-in arm policy passes its own sizes)."""
    from transformers import PI0Processor
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    tokenizer = tokenizer or build_tokenizer()
    image_processor = SiglipImageProcessorPil(size={"height": image_size, "width": image_size},
                                              image_mean=[0.5, 0.5, 0.5], image_std=[0.25, 0.25, 0.25])
    image_processor.image_seq_length = (image_size // patch_size) ** 2
    return PI0Processor(image_processor=image_processor, tokenizer=tokenizer, max_state_dim=state_dim,
                        chunk_size=chunk_size, actions_mean=action_stats["mean"], actions_std=action_stats["std"])


def build_model(tokenizer, seed: int = 0, *, image_size: int = IMAGE_SIZE, patch_size: int = PATCH_SIZE,
                chunk_size: int = CHUNK_SIZE, action_dim: int = len(ACTION_NAMES), state_dim: int = len(ACTION_NAMES)):
    """An untrained tiny pi0 (hidden size 64, two layers in each part)."""
    import torch
    from transformers import PI0Config, PI0ForConditionalGeneration

    torch.manual_seed(seed)
    head_dim = HIDDEN_SIZE // 2
    text = dict(model_type="gemma", hidden_size=HIDDEN_SIZE, num_hidden_layers=LAYERS, intermediate_size=4 * HIDDEN_SIZE,
                num_attention_heads=2, num_key_value_heads=1, head_dim=head_dim, vocab_size=len(tokenizer))
    vision = dict(model_type="siglip_vision_model", hidden_size=HIDDEN_SIZE, intermediate_size=4 * HIDDEN_SIZE,
                  num_hidden_layers=LAYERS, num_attention_heads=2, image_size=image_size, patch_size=patch_size,
                  vision_use_head=False)
    expert = dict(model_type="gemma", hidden_size=HIDDEN_SIZE, num_hidden_layers=LAYERS,
                  intermediate_size=4 * HIDDEN_SIZE, num_attention_heads=2, num_key_value_heads=1, head_dim=head_dim)
    config = PI0Config(
        vlm_config=dict(model_type="paligemma", text_config=text, vision_config=vision, projection_dim=HIDDEN_SIZE,
                        image_token_id=tokenizer.convert_tokens_to_ids("<image>")),
        dit_config=expert, chunk_size=chunk_size, max_state_dim=state_dim, max_action_dim=action_dim,
        num_inference_steps=NUM_STEPS)
    return PI0ForConditionalGeneration(config)


def save_stats(path: str) -> None:
    """``action_stats.json``: the action normalisation and the dimensions' names (no robot state)."""
    with open(os.path.join(path, "action_stats.json"), "w") as handle:
        json.dump({"actions": ACTION_STATS, "names": ACTION_NAMES}, handle, indent=2)
