"""Dual encoders (CLIP, SigLIP: ``CLIPModel``, ``SiglipModel`` from a local directory) as phrase policies.

A dual encoder embeds the image and each text on its own; the action is the prompt closest to the image
(zero-shot classification): each action's prompt is the directory's ``dual_encoder.json`` "prompt"
template (default ``"{instruction} : {action}"``) with the instruction and the action's phrase filled in.
``score`` returns the softmax-normalised log-probabilities of the cosine similarities times the model's
logit scale (for SigLIP too: only the ranking matters to the guard), so the guard, attacks and the bench
use it as any phrase policy. The embeddings themselves (:meth:`DualEncoderPolicy.image_embeddings`,
:meth:`DualEncoderPolicy.text_embeddings`) are what the closed-form semantic certificate
(:mod:`rs_vla_guard.certification.semantic`) needs.
"""
from __future__ import annotations

import contextlib
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .base import Policy, PolicyError
from .hf_common import PixelNormaliser, autocast_dtype, model_fingerprint, processor_size

DEFAULT_PROMPT = "{instruction} : {action}"


def load(path: str, params: Dict, device: torch.device) -> "DualEncoderPolicy":
    """The factory's entry point: a model directory with the guard's parameters."""
    return DualEncoderPolicy.from_pretrained(path, device=device, dtype=params["dtype"],
                                             trust_remote_code=params["trust_remote_code"])


def _features(output) -> torch.Tensor:
    """transformers 5 returns the projected features as ``pooler_output`` of a model output; earlier, a tensor."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


class DualEncoderPolicy(Policy):
    """A CLIP-like model behind the policy protocol (``score`` mode, differentiable)."""

    modes = ("score",)
    differentiable = True
    compiled_modules = ("model.vision_model",)  # text embeddings are cached; images are the batched path
    quantized_modules = ("model",)  # int8 on CPUs without native bfloat16 (guard.precision)

    def __init__(self, model, tokenizer, image_processor, *, device: torch.device, model_id: str,
                 prompt: str = DEFAULT_PROMPT, extra: Optional[Dict] = None,
                 autocast_dtype: Optional[torch.dtype] = None):
        if "{action}" not in prompt:
            raise PolicyError(f"dual encoder prompt {prompt!r} must contain {{action}}")
        self.model, self.tokenizer, self.device, self.model_id = model, tokenizer, device, model_id
        self.prompt, self.extra = prompt, dict(extra or {})
        self.autocast_dtype = autocast_dtype
        side = processor_size(image_processor)
        self.input_size = (side, side)
        self._normalise = PixelNormaliser(image_processor, device, next(model.parameters()).dtype)
        self._texts: Dict[Tuple[str, ...], torch.Tensor] = {}

    @classmethod
    def from_pretrained(cls, path: str, *, device: torch.device, dtype: str = "auto",
                        trust_remote_code: bool = False) -> "DualEncoderPolicy":
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

        if not os.path.isdir(path):
            raise PolicyError(f"policy directory not found: {path}")
        if not any(name.endswith(".safetensors") for name in os.listdir(path)):
            raise PolicyError(f"no .safetensors weights in {path} (only safetensors are loaded)")
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=trust_remote_code)
            image_processor = AutoImageProcessor.from_pretrained(path, local_files_only=True,
                                                                 trust_remote_code=trust_remote_code)
            model = AutoModel.from_pretrained(path, local_files_only=True, use_safetensors=True,
                                              trust_remote_code=trust_remote_code)
        except Exception as error:  # transformers raises many types; the user needs the message
            raise PolicyError(f"could not load a dual encoder from {path}: {error}") from error
        if not (hasattr(model, "get_image_features") and hasattr(model, "get_text_features")):
            raise PolicyError(f"{path} is not a dual encoder (no get_image_features / get_text_features)")
        settings = {}
        settings_path = os.path.join(path, "dual_encoder.json")
        if os.path.isfile(settings_path):
            with open(settings_path) as handle:
                settings = json.load(handle)
        model.to(device).eval()
        name = os.path.basename(os.path.normpath(path))
        return cls(model, tokenizer, image_processor, device=device, model_id=f"{name}@{model_fingerprint(path)}",
                   prompt=settings.get("prompt", DEFAULT_PROMPT), extra=settings,
                   autocast_dtype=autocast_dtype(dtype, device))

    def _precision(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def prompts(self, instruction: str, phrases: Sequence[str]) -> List[str]:
        return [self.prompt.replace("{instruction}", instruction).replace("{action}", phrase) for phrase in phrases]

    def image_embeddings(self, pixels: torch.Tensor, *, grad: bool = False) -> torch.Tensor:
        """B unit image embeddings of [0, 1] pixels (B x 3 x H x W, the policy's input size)."""
        context = contextlib.nullcontext() if grad else torch.inference_mode()
        with context, self._precision():
            features = _features(self.model.get_image_features(pixel_values=self._normalise(pixels.to(self.device))))
        return torch.nn.functional.normalize(features.float(), dim=-1)

    def text_embeddings(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit embeddings of ``texts`` (cached: the guard asks for the same prompts every decision)."""
        key = tuple(texts)
        if key not in self._texts:
            tokens = self.tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                features = _features(self.model.get_text_features(**tokens))
            self._texts[key] = torch.nn.functional.normalize(features.float(), dim=-1)
        return self._texts[key]

    def _logits(self, pixels: torch.Tensor, instruction: str, phrases: Sequence[str], grad: bool) -> torch.Tensor:
        texts = self.text_embeddings(self.prompts(instruction, phrases))
        scale = float(self.model.logit_scale.detach().exp()) if hasattr(self.model, "logit_scale") else 100.0
        logits = scale * self.image_embeddings(pixels, grad=grad) @ texts.T
        return torch.log_softmax(logits, dim=-1)

    def score(self, pixels: torch.Tensor, instruction: str, phrases: Sequence[str]) -> torch.Tensor:
        return self._logits(pixels, instruction, phrases, grad=False)

    def log_likelihoods(self, pixels: torch.Tensor, instruction: str, phrases: Sequence[str]) -> torch.Tensor:
        return self._logits(pixels, instruction, phrases, grad=True)

    def clear_caches(self) -> None:
        self._texts.clear()  # prompt embeddings, computed with the weights of the time

    def release(self) -> None:
        self.model = None
        self._texts.clear()


def semantic_certificate(policy: DualEncoderPolicy, pixels: torch.Tensor, instruction: str,
                         phrases: Sequence[str], source: str, target: str):
    """The closed-form semantic certificate of the policy's prediction on one input (3 x H x W in [0, 1]),
    along the change from the ``source`` prompt to the ``target`` prompt
    (:func:`rs_vla_guard.certification.semantic.certify_semantic`)."""
    from ..certification.semantic import certify_semantic

    if not isinstance(policy, DualEncoderPolicy):
        raise PolicyError(f"semantic certificates need a dual-encoder policy (policy_type clip), not {policy.model_id}")
    image = policy.image_embeddings(pixels[None])[0].cpu().numpy().astype(np.float64)
    classes = policy.text_embeddings(policy.prompts(instruction, phrases)).cpu().numpy().astype(np.float64)
    pair = policy.text_embeddings([source, target]).cpu().numpy().astype(np.float64)
    return certify_semantic(image, classes, pair[0], pair[1]), image, classes, pair
