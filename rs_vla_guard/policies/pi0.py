"""Adapter for pi0 as transformers ships it (``PI0ForConditionalGeneration``): action chunks by flow matching.

Loads the model and its processor from a local directory with ``from_pretrained`` (safetensors only, no
remote code). ``PI0ImageProcessor`` needs torchvision; a directory saved with the PIL SigLIP image
processor (``SiglipImageProcessorPil``, with an ``image_seq_length``) loads without it, and the adapter
only reads the image processor's size, mean and std anyway: every noisy batch is normalised on the
device, and the instruction's token ids are built once per instruction.

``act(pixels, instruction, state, generator)`` denoises a whole batch at once, with the flow-matching
noise drawn from ``generator`` (the guard's), so a decision is reproducible from (frame, instruction,
state, seed). Actions are un-normalised with the statistics in ``action_stats.json`` beside the model
(mean/std or q01/q99 per dimension, with the dimensions' names), or the processor's ``actions_mean`` /
``actions_std``. Several cameras (``"cameras": N`` in the statistics file): the policy input stacks them
along channels (3 per camera), and the guard's noise covers every camera image the policy sees.
"""
from __future__ import annotations

import contextlib
import os
from typing import Dict, Optional, Sequence, Tuple

import torch

from .base import Policy, PolicyError
from .statistics import STATS_FILE, ActionStats, read_stats
from .hf_common import PixelNormaliser, autocast_dtype, model_fingerprint, processor_size, resolve_dtype


# STATS_FILE and ActionStats were defined here; their old import path keeps working
__all__ = ["ActionStats", "PI0Policy", "STATS_FILE", "load", "read_stats"]


def load(path: str, params: Dict, device: torch.device) -> "PI0Policy":
    """The factory's entry point: a pi0 model directory with the guard's parameters."""
    from transformers import AutoProcessor, PI0ForConditionalGeneration

    if not any(name.endswith(".safetensors") for name in os.listdir(path)):
        raise PolicyError(f"no .safetensors weights in {path} (only safetensors are loaded)")
    try:
        processor = AutoProcessor.from_pretrained(path, local_files_only=True)
        model = PI0ForConditionalGeneration.from_pretrained(path, local_files_only=True, use_safetensors=True,
                                                            dtype=resolve_dtype(params["dtype"], device))
    except Exception as error:  # transformers raises many types; the user needs the message
        raise PolicyError(f"could not load a pi0 model from {path}: {error}") from error
    model.to(device).eval()
    name = os.path.basename(os.path.normpath(path))
    actions, state, names, cameras = read_stats(path, processor)
    return PI0Policy(model, processor, actions, state, names, device=device, cameras=cameras,
                     model_id=f"{name}@{model_fingerprint(path)}", autocast_dtype=autocast_dtype(params["dtype"], device))


class PI0Policy(Policy):
    """A pi0 model behind the policy protocol: ``act`` -> B x chunk x action dimensions, un-normalised."""

    modes = ("action",)
    differentiable = True
    compiled_modules = ("model.model.vlm", "model")  # the prompt and image prefix, then each denoising step
    quantized_modules = ("model",)  # int8 on CPUs without native bfloat16 (guard.precision)

    def __init__(self, model, processor, actions: ActionStats, state: Optional[ActionStats], names: Sequence[str], *,
                 device: torch.device, model_id: str, cameras: int = 1, num_steps: Optional[int] = None,
                 autocast_dtype: Optional[torch.dtype] = None):
        self.model, self.processor, self.device, self.model_id = model, processor, device, model_id
        self.config = model.config
        self.tokenizer = processor.tokenizer
        self.actions, self.state = actions.to(device), (state.to(device) if state is not None else None)
        self.action_names = list(names)
        self.state_dim = state.dim if state is not None else 0
        self.cameras = cameras
        self.num_steps = num_steps or self.config.num_inference_steps
        self.chunk_size = int(self.config.chunk_size)  # steps per action chunk
        self.autocast_dtype = autocast_dtype
        self._dtype = next(model.parameters()).dtype
        size = processor_size(processor.image_processor)
        self.input_size = (size, size)
        self.channels = 3 * cameras
        self._normalise = PixelNormaliser(processor.image_processor, device, self._dtype)
        self._image_tokens = int(processor.image_seq_length)
        self._prompts: Dict[str, Tuple[torch.Tensor, torch.Tensor]] = {}
        if actions.dim > self.config.max_action_dim:
            raise PolicyError(f"{actions.dim} action dimensions, but the model outputs {self.config.max_action_dim}")

    # ------------------------------------------------------------------ inputs

    def _prompt(self, instruction: str) -> Tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask (1 x L) of pi0's prompt: the image tokens of every camera, then
        BOS, the instruction and a newline; built once per instruction, unpadded."""
        if instruction not in self._prompts:
            text = (self.processor.image_token * (self._image_tokens * self.cameras) + (self.tokenizer.bos_token or "")
                    + instruction + "\n")
            ids = self.tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
            if int((ids == self.config.vlm_config.image_token_id).sum()) != self._image_tokens * self.cameras:
                raise PolicyError(f"{self.model_id}: the tokenizer does not keep the image token whole")
            with torch.inference_mode(False):  # cached: usable with autograd too (attacks)
                ids = ids.to(self.device).clone()
                self._prompts[instruction] = (ids, torch.ones_like(ids))
            if len(self._prompts) > 32:  # instructions change rarely; keep the cache small
                self._prompts = {instruction: self._prompts[instruction]}
        return self._prompts[instruction]

    def _state(self, state: Optional[torch.Tensor], batch: int) -> torch.Tensor:
        padded = torch.zeros(batch, self.config.max_state_dim, device=self.device, dtype=self._dtype)
        if self.state is not None:
            if state is None:
                raise PolicyError(f"{self.model_id} needs the robot state ({self.state_dim} values)")
            values = torch.as_tensor(state, dtype=torch.float32, device=self.device).reshape(-1, self.state_dim)
            padded[:, : self.state_dim] = self.state.normalise(values).expand(batch, -1).to(self._dtype)
        return padded

    def noise(self, batch: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """The flow-matching starting noise for ``batch`` samples, from ``generator`` (the guard's)."""
        return torch.randn(batch, self.config.chunk_size, self.config.max_action_dim, device=self.device,
                           dtype=torch.float32, generator=generator)

    def _precision(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    # ------------------------------------------------------------------ the action mode

    @torch.inference_mode()
    def act(self, pixels: torch.Tensor, instruction: str, state: Optional[torch.Tensor] = None,
            generator: Optional[torch.Generator] = None, noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        """B x chunk x D actions (un-normalised; D = len(action_names)) for B noisy inputs."""
        return self.actions_with_grad(pixels, instruction, state, generator, noise)

    def actions_with_grad(self, pixels: torch.Tensor, instruction: str, state: Optional[torch.Tensor] = None,
                          generator: Optional[torch.Generator] = None,
                          noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        """:meth:`act` with autograd left on: the differentiable path attacks take, through every denoising
        step, with the flow noise held fixed (``noise``)."""
        batch = pixels.shape[0]
        if pixels.shape[1] != self.channels:
            raise PolicyError(f"{self.model_id} takes {self.cameras} camera(s), {self.channels} channels; "
                              f"got {pixels.shape[1]}")
        ids, mask = self._prompt(instruction)
        if noise is None:
            noise = self.noise(batch, generator)
        pixel_values = self._normalise(pixels.reshape(batch * self.cameras, 3, *pixels.shape[2:]))
        pixel_values = pixel_values.reshape(batch, self.cameras, 3, *pixels.shape[2:])
        with self._precision():
            chunk = self._denoise(ids.expand(batch, -1), mask.expand(batch, -1), pixel_values,
                                  self._state(state, batch), noise.to(self._dtype))
        actions = self.actions.unnormalise(chunk[..., : self.actions.dim].float())
        if self.actions.relative_to_state:  # delta actions: positions relative to the measured state
            values = torch.as_tensor(state, dtype=torch.float32, device=self.device).reshape(-1, self.state_dim)
            actions = actions + values[:, None, : self.actions.dim]
        return actions

    def _denoise(self, ids, mask, pixel_values, state, noise):
        """pi0's flow-matching inference (``PI0ForConditionalGeneration.sample_actions``), written out so
        that it can run with gradients: the prompt's keys and values once, then ``num_steps`` Euler steps."""
        model = self.model
        batch = ids.shape[0]
        cameras = torch.ones(batch, self.cameras, dtype=torch.bool, device=self.device)
        embeds = model.model.embed_prefix(ids, pixel_values, cameras)
        cache = model.model.vlm(inputs_embeds=embeds, attention_mask=mask, position_ids=mask.cumsum(-1) - 1,
                                token_type_ids=torch.zeros_like(embeds)[:, :, 0], use_cache=True).past_key_values
        prefix = cache.get_seq_length()
        step = -1.0 / self.num_steps
        for index in range(self.num_steps):
            time = torch.full((batch,), 1.0 + index * step, dtype=torch.float32, device=self.device)
            velocity = model(state=state, noise=noise, timestep=time, pixel_attention_mask=cameras, attention_mask=mask,
                             past_key_values=cache).logits
            cache.crop(prefix - cache.get_seq_length())  # the prompt only: steps do not see each other
            noise = noise + step * velocity
        return noise

    def release(self) -> None:
        self.model = None
        self._prompts.clear()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
