"""Adapter for action-token VLAs (OpenVLA, MiniVLA, RT-2 style): the answer is one token per action dimension.

Such a model is an image-text-to-text language model (LLaVA, PaliGemma, Idefics3 families load here with
``AutoModelForImageTextToText.from_pretrained``, safetensors only) whose vocabulary ends with
``bins`` action tokens: uniform bins over [-1, 1], one token per action dimension, un-normalised with the
training set's q01/q99 (a ``mask`` leaves dimensions normalised, like OpenVLA's gripper). Everything the
adapter needs beside the model is in ``action_stats.json``::

    {"actions": {"q01": [...], "q99": [...], "mask": [...]}, "names": ["linear_x", "angular_z"],
     "action_tokens": {"bins": 256, "scheme": "uniform", "prompt": "In: What action should the robot take to
                       {instruction}?\\nOut:", "vocab_end": null}}

- ``scheme: uniform``: token ``vocab_end - bins + i`` is bin i of ``bins`` equal bins, decoded to its centre
  ``-1 + (2 i + 1) / bins``; ``scheme: openvla``: OpenVLA's layout (token ``vocab_end - k`` for
  ``k = digitize(a, linspace(-1, 1, bins))``, decoded to the centre of the k-th of the ``bins - 1`` gaps).
- ``vocab_end``: one past the last action token (default: the tokenizer's length; OpenVLA: 32000).
- ``prompt``: ``{instruction}`` is replaced; the processor's image token is put first when the prompt
  has none; no ``prompt`` (and no ``action_prompt`` parameter): the model's chat template.

Decoding is batched over the whole noisy batch: one prefill (after the instruction's cached text
prefix, as in the VLM adapter), then ``D - 1`` cached decode steps, each feeding every row its own chosen
token, with the argmax restricted to the action tokens: exactly D tokens, never ``generate`` per image.
Greedy decoding is deterministic, so the policy's randomness is the guard's pixel noise alone.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch

from .base import PolicyError
from .statistics import STATS_FILE, ActionStats, read_stats_file
from .transformers_vlm import TransformersVLM

SCHEMES = ("uniform", "openvla")
TOKENS_KEY = "action_tokens"


def is_action_token_model(path: str) -> bool:
    """Whether a model directory's statistics file describes action tokens (for the factory's detection)."""
    try:
        stats = read_stats_file(path)
    except PolicyError:
        return False
    return bool(stats and isinstance(stats.get(TOKENS_KEY), dict))


class ActionTokenCodec:
    """Action tokens <-> normalised values in [-1, 1] for one model: which ids, which bins, which scheme."""

    def __init__(self, bins: int, vocab_end: int, scheme: str = "uniform"):
        if scheme not in SCHEMES:
            raise PolicyError(f"{STATS_FILE}: action_tokens.scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
        if bins < 2 or vocab_end < bins:
            raise PolicyError(f"{STATS_FILE}: need 2 <= bins <= vocab_end, got bins {bins}, vocab_end {vocab_end}")
        self.bins, self.vocab_end, self.scheme = int(bins), int(vocab_end), scheme
        self.first = self.vocab_end - self.bins  # the action ids are [first, vocab_end)

    def values(self, tokens: torch.Tensor) -> torch.Tensor:
        """Action token ids (any shape) -> normalised values in [-1, 1] (float32)."""
        if self.scheme == "uniform":
            index = (tokens - self.first).float()
            return -1.0 + (2.0 * index + 1.0) / self.bins
        # OpenVLA: k = vocab_end - token in [1, bins]; value = centre of gap clip(k - 1, 0, bins - 2)
        gap = (self.vocab_end - tokens - 1).clamp(0, self.bins - 2).float()
        return -1.0 + (2.0 * gap + 1.0) / (self.bins - 1)

    def tokens(self, values: torch.Tensor) -> torch.Tensor:
        """Normalised values -> the action token ids a model is trained to answer (clipped to [-1, 1])."""
        values = values.clamp(-1.0, 1.0)
        if self.scheme == "uniform":
            index = ((values + 1.0) / 2.0 * self.bins).floor().long().clamp(0, self.bins - 1)
            return self.first + index
        edges = torch.linspace(-1.0, 1.0, self.bins, device=values.device)
        k = torch.bucketize(values, edges, right=True).clamp(1, self.bins)  # numpy's digitize
        return self.vocab_end - k


def load(path: str, params: Dict, device: torch.device) -> "ActionTokenVLM":
    """The factory's entry point: a model directory with action tokens, with the guard's parameters."""
    stats = read_stats_file(path)
    if not stats or not isinstance(stats.get(TOKENS_KEY), dict):
        raise PolicyError(f"{path} has no {STATS_FILE} with an '{TOKENS_KEY}' object: not an action-token model")
    spec = stats[TOKENS_KEY]
    actions = ActionStats(stats["actions"], "actions")
    names = list(stats.get("names") or [f"a{i}" for i in range(actions.dim)])
    if len(names) != actions.dim:
        raise PolicyError(f"{STATS_FILE}: {len(names)} names for {actions.dim} action dimensions")
    prompt = params.get("action_prompt") or spec.get("prompt") or ""
    return ActionTokenVLM.from_pretrained(
        path, device=device, trust_remote_code=params["trust_remote_code"], dtype=params["dtype"],
        max_new_tokens=params["max_new_tokens"], actions=actions, names=names, prompt=prompt,
        bins=int(spec.get("bins", 256)), scheme=str(spec.get("scheme", "uniform")), vocab_end=spec.get("vocab_end"))


class ActionTokenVLM(TransformersVLM):
    """An action-token VLA behind the policy protocol: ``act`` -> B x 1 x D actions, un-normalised."""

    modes = ("action",)
    differentiable = False  # argmax decoding: attacks need a policy with gradients (pi0, score-mode VLMs)

    def __init__(self, model, processor, *, actions: ActionStats, names: Sequence[str], prompt: str = "",
                 bins: int = 256, scheme: str = "uniform", vocab_end: Optional[int] = None, **common):
        self.prompt_format = prompt
        self.action_names: List[str] = list(names)
        super().__init__(model, processor, **common)
        self.actions = actions.to(self.device)
        self.codec = ActionTokenCodec(bins, int(vocab_end) if vocab_end is not None else len(self.tokenizer), scheme)
        vocabulary = int(self.model.get_output_embeddings().weight.shape[0])
        if self.codec.vocab_end > vocabulary:
            raise PolicyError(f"{self.model_id}: action tokens end at id {self.codec.vocab_end}, but the model has "
                              f"{vocabulary} output ids")

    def prompt_text(self, instruction: str) -> str:
        if not self.prompt_format:
            return super().prompt_text(instruction)
        text = self.prompt_format.replace("{instruction}", instruction)
        image = getattr(self.processor, "image_token", None) or "<image>"
        return text if image in text else image + text

    @torch.inference_mode()
    def act(self, pixels: torch.Tensor, instruction: str, state: Optional[torch.Tensor] = None,
            generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """B x 1 x D actions (one step, un-normalised) for B noisy inputs; ``state`` and ``generator`` are
        unused (the model takes no state and decodes greedily)."""
        values = self.codec.values(self.decode(pixels, instruction))
        return self.actions.unnormalise(values)[:, None, :]

    @torch.inference_mode()
    def decode(self, pixels: torch.Tensor, instruction: str) -> torch.Tensor:
        """B x D action token ids: greedy over the action tokens only, one prefill and D - 1 cached steps."""
        prepared = self._prepare(instruction)
        batch, dimensions = pixels.shape[0], len(self.action_names)
        first, end = self.codec.first, self.codec.vocab_end
        chosen = []
        with self._precision():
            out = self.model(**prepared.after_prefix(batch, self.model.config),
                             pixel_values=self._pixel_values(pixels, prepared), use_cache=True, logits_to_keep=1)
            for step in range(dimensions):
                token = out.logits[:, -1, first:end].argmax(-1) + first
                chosen.append(token)
                if step + 1 == dimensions:
                    break
                attention = torch.ones(batch, prepared.prompt_length + step + 1, dtype=torch.long,
                                       device=self.device)
                out = self.model(input_ids=token[:, None], past_key_values=out.past_key_values,
                                 attention_mask=attention, use_cache=True, logits_to_keep=1)
        return torch.stack(chosen, dim=1)

