"""Adapter for transformers image-text-to-text VLMs (LLaVA, Idefics3/SmolVLM, the built-in policy, ...).

Loads with ``AutoModelForImageTextToText.from_pretrained`` and ``AutoProcessor.from_pretrained`` from a
local directory (safetensors only, no network, remote code only on request). The processor runs once
per instruction on a placeholder image to produce the token ids and the pixel tensor layout; after
that every noisy batch is normalised on the device and fed straight to the model, with no processor
or PIL call per sample.

``score`` mode scores a closed set of phrases by log-likelihood: one prefill over the prompt per noisy
image, then the KV cache is repeated once per candidate and all candidates' remaining tokens go
through a single batched forward (not one forward per candidate from scratch).
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from .base import PolicyError


def model_fingerprint(path: str) -> str:
    """Short hash of the config and of the weight files' names and sizes (cheap for large models)."""
    digest = hashlib.sha256()
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if name == "config.json":
            with open(full, "rb") as handle:
                digest.update(handle.read())
        elif name.endswith(".safetensors"):
            digest.update(f"{name}:{os.path.getsize(full)}".encode())
    return digest.hexdigest()[:12]


class _Prepared:
    """Token-side inputs for one instruction, batch dimension 1, on the device."""

    def __init__(self, static: Dict[str, torch.Tensor], pixel_shape: Tuple[int, ...]):
        self.static = static
        self.pixel_shape = pixel_shape
        self.prompt_length = static["input_ids"].shape[1]

    def expanded(self, batch: int) -> Dict[str, torch.Tensor]:
        return {k: v.expand(batch, *v.shape[1:]) for k, v in self.static.items()}


class TransformersVLM:
    """A transformers VLM behind the :class:`~rs_vla_guard.policies.base.Policy` protocol."""

    modes = ("score", "generate")

    def __init__(self, model, processor, *, device: torch.device, model_id: str, max_new_tokens: int = 8):
        self.model = model
        self.processor = processor
        self.device = device
        self.model_id = model_id
        self.max_new_tokens = max_new_tokens
        self.tokenizer = processor.tokenizer
        image_processor = processor.image_processor
        if hasattr(image_processor, "do_image_splitting"):
            # One view per image: the certified radius is over that view's pixels.
            image_processor.do_image_splitting = False
        mean = getattr(image_processor, "image_mean", None) or [0.5, 0.5, 0.5]
        std = getattr(image_processor, "image_std", None) or [0.5, 0.5, 0.5]
        self._mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self._dtype = next(model.parameters()).dtype
        self._prepared: Dict[str, _Prepared] = {}
        self._candidates: Dict[Tuple[str, ...], Tuple[torch.Tensor, torch.Tensor]] = {}
        probe = self._prepare("probe")
        self.input_size = tuple(int(s) for s in probe.pixel_shape[-2:])

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_pretrained(
        cls, path: str, *, device: torch.device, trust_remote_code: bool = False, dtype: str = "auto",
        max_new_tokens: int = 8,
    ) -> "TransformersVLM":
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if not os.path.isdir(path):
            raise PolicyError(f"policy directory not found: {path}")
        if not any(name.endswith(".safetensors") for name in os.listdir(path)):
            raise PolicyError(f"no .safetensors weights in {path} (only safetensors are loaded)")
        torch_dtype = _resolve_dtype(dtype, device)
        try:
            processor = AutoProcessor.from_pretrained(path, local_files_only=True, trust_remote_code=trust_remote_code)
            model = AutoModelForImageTextToText.from_pretrained(
                path, local_files_only=True, trust_remote_code=trust_remote_code, use_safetensors=True,
                dtype=torch_dtype,
            )
        except Exception as error:  # transformers raises many types; the user needs the message
            raise PolicyError(f"could not load a VLM from {path}: {error}") from error
        model.to(device).eval()
        name = os.path.basename(os.path.normpath(path))
        return cls(model, processor, device=device, model_id=f"{name}@{model_fingerprint(path)}",
                   max_new_tokens=max_new_tokens)

    # ------------------------------------------------------------------ inputs

    def prompt_text(self, instruction: str) -> str:
        if getattr(self.processor, "chat_template", None):
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": instruction}]}]
            return self.processor.apply_chat_template(messages, add_generation_prompt=True)
        image_token = getattr(self.processor, "image_token", "<image>")
        return f"{image_token} {instruction}"

    def _prepare(self, instruction: str) -> _Prepared:
        prepared = self._prepared.get(instruction)
        if prepared is not None:
            return prepared
        size = _processor_size(self.processor.image_processor)
        placeholder = np.zeros((size, size, 3), np.uint8)
        text = self.prompt_text(instruction)
        try:
            inputs = self.processor(images=[placeholder], text=[text], return_tensors="pt")
        except Exception:  # some processors (Idefics3) want one list of images per prompt
            inputs = self.processor(images=[[placeholder]], text=[text], return_tensors="pt")
        pixel_shape = tuple(inputs["pixel_values"].shape)
        if int(np.prod(pixel_shape[:-3])) != 1:
            raise PolicyError(f"processor produced {pixel_shape[:-3]} image views; one view per image is required")
        with torch.inference_mode(False):  # cached tensors must also serve gradient computations (attacks)
            static = {k: v.to(self.device).clone() for k, v in inputs.items()
                      if k != "pixel_values" and torch.is_tensor(v)}
        prepared = _Prepared(static, pixel_shape)
        if len(self._prepared) > 32:  # instructions change rarely; keep the cache small
            self._prepared.clear()
        self._prepared[instruction] = prepared
        return prepared

    def _pixel_values(self, pixels: torch.Tensor, prepared: _Prepared) -> torch.Tensor:
        normalised = ((pixels - self._mean) / self._std).to(self._dtype)
        return normalised.view(pixels.shape[0], *prepared.pixel_shape[1:])

    def _candidate_ids(self, phrases: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
        key = tuple(phrases)
        if key not in self._candidates:
            eos = self.tokenizer.eos_token_id
            rows = []
            for phrase in phrases:
                ids = self.tokenizer(phrase, add_special_tokens=False).input_ids
                if not ids:
                    raise PolicyError(f"phrase {phrase!r} tokenizes to nothing")
                rows.append(ids + ([eos] if eos is not None else []))
            width = max(len(r) for r in rows)
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
            with torch.inference_mode(False):  # cached: usable with autograd too (attacks)
                ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=self.device)
                mask = torch.tensor([[1.0] * len(r) + [0.0] * (width - len(r)) for r in rows], device=self.device)
            self._candidates[key] = (ids, mask)
        return self._candidates[key]

    # ------------------------------------------------------------------ modes

    @torch.inference_mode()
    def score(self, pixels: torch.Tensor, instruction: str, phrases: Sequence[str]) -> torch.Tensor:
        """B x C summed log-probabilities of each phrase (plus end-of-sequence) after the prompt."""
        return self.log_likelihoods(pixels, instruction, phrases)

    def log_likelihoods(self, pixels: torch.Tensor, instruction: str, phrases: Sequence[str]) -> torch.Tensor:
        """:meth:`score` with autograd left on (for attacks and tests); callers choose the grad mode."""
        prepared = self._prepare(instruction)
        candidates, mask = self._candidate_ids(phrases)
        batch, count = pixels.shape[0], candidates.shape[0]
        out = self.model(
            **prepared.expanded(batch), pixel_values=self._pixel_values(pixels, prepared), use_cache=True,
            logits_to_keep=1,
        )
        scores = out.logits[:, -1].float().log_softmax(-1)[:, candidates[:, 0]]
        if candidates.shape[1] > 1:
            cache = out.past_key_values
            cache.batch_repeat_interleave(count)  # row b * C + c continues image b with candidate c
            follow = candidates[:, :-1].repeat(batch, 1)
            attention = torch.ones(batch * count, prepared.prompt_length + follow.shape[1], device=self.device,
                                   dtype=torch.long)
            logits = self.model(input_ids=follow, past_key_values=cache, attention_mask=attention).logits
            token_logp = logits.float().log_softmax(-1).gather(-1, candidates[:, 1:].repeat(batch, 1).unsqueeze(-1))
            scores = scores + (token_logp.squeeze(-1) * mask[:, 1:].repeat(batch, 1)).sum(-1).view(batch, count)
        return scores

    @torch.inference_mode()
    def generate(self, pixels: torch.Tensor, instruction: str) -> List[str]:
        """Greedy decoding, up to ``max_new_tokens`` new tokens per noisy image."""
        prepared = self._prepare(instruction)
        out = self.model.generate(
            **prepared.expanded(pixels.shape[0]), pixel_values=self._pixel_values(pixels, prepared),
            max_new_tokens=self.max_new_tokens, do_sample=False,
            pad_token_id=self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id,
        )
        return self.tokenizer.batch_decode(out[:, prepared.prompt_length:], skip_special_tokens=True)

    def act(self, pixels: torch.Tensor, instruction: str) -> torch.Tensor:
        raise PolicyError(f"{self.model_id} outputs text, not action vectors: use policy_mode score or generate")

    def release(self) -> None:
        """Drop the model and free device memory (lifecycle cleanup)."""
        self.model = None
        self._prepared.clear()
        self._candidates.clear()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def _processor_size(image_processor) -> int:
    size = getattr(image_processor, "size", None) or {}
    if isinstance(size, dict):
        for key in ("height", "longest_edge", "shortest_edge", "width"):
            if size.get(key):
                return int(size[key])
    elif isinstance(size, int):
        return size
    return 224


def _resolve_dtype(dtype: str, device: torch.device):
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    choices = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in choices:
        raise PolicyError(f"unknown dtype {dtype!r}; choose auto, float32, bfloat16 or float16")
    return choices[dtype]


def describe(path: str) -> dict:
    with open(os.path.join(path, "config.json")) as handle:
        return json.load(handle)
