"""Adapter for transformers image-text-to-text VLMs (LLaVA, Idefics3/SmolVLM, the built-in policy, ...).

Loads with ``AutoModelForImageTextToText.from_pretrained`` and ``AutoProcessor.from_pretrained`` from a
local directory (safetensors only, no network, remote code only on request). The processor runs once
per instruction on a placeholder image to produce the token ids and the pixel tensor layout; after
that every noisy batch is normalised on the device and fed straight to the model, with no processor
or PIL call per sample.

``score`` mode scores a closed set of phrases by log-likelihood: one prefill over the prompt per noisy
image, then the KV cache is repeated once per candidate and all candidates' remaining tokens go
through a single batched forward (not one forward per candidate from scratch). The prompt tokens before
the first image token are the same for every noisy image, so their keys and values are computed once
per instruction and shared by all batches; each prefill then starts at the image.

The candidates' remaining tokens are laid out as a prefix tree ("turn left" and "turn right" share
"turn") after the prompt in the same row, with a 4D attention mask (causal over the prompt; each tree
token sees the prompt and its own ancestors) and explicit positions: one forward per batch of noisy
images scores all candidates, with no KV cache copied per candidate. The first time a phrase set is used, the tree's scores are checked against the plain
layout (the cache repeated per candidate); a model whose attention does not honour custom masks or
positions keeps the plain layout.
"""
from __future__ import annotations

import contextlib
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .base import Policy, PolicyError
from .hf_common import PixelNormaliser, autocast_dtype, model_fingerprint, processor_size, resolve_dtype


class _Prepared:
    """Token-side inputs for one instruction, batch dimension 1, on the device.

    ``prefix_kv`` holds each layer's keys and values for the first ``prefix_length`` prompt tokens (the
    text before the image, identical for every noisy image), or is None when the prompt starts with the
    image.
    """

    def __init__(self, static: Dict[str, torch.Tensor], pixel_shape: Tuple[int, ...]):
        self.static = static
        self.pixel_shape = pixel_shape
        self.prompt_length = static["input_ids"].shape[1]
        self.prefix_length = 0
        self.prefix_kv: Optional[List[Tuple[torch.Tensor, torch.Tensor]]] = None
        # phrase set -> (input ids, 4D additive mask, position ids) of the tree layout, batch dimension 1
        self.tree_layouts: Dict[Tuple[str, ...], Tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def expanded(self, batch: int) -> Dict[str, torch.Tensor]:
        return {k: v.expand(batch, *v.shape[1:]) for k, v in self.static.items()}

    def after_prefix(self, batch: int, config) -> Dict[str, torch.Tensor]:
        """Model inputs for the prompt after the cached prefix, with that prefix's cache (batch ``batch``)."""
        inputs = self.expanded(batch)
        if self.prefix_kv is None:
            return inputs
        from transformers import DynamicCache

        inputs["input_ids"] = inputs["input_ids"][:, self.prefix_length:]
        # DynamicCache copies on update, so the expanded (stride-0) views are materialised per call.
        inputs["past_key_values"] = DynamicCache(
            ddp_cache_data=[(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in self.prefix_kv],
            config=config,
        )
        return inputs


class _CandidateTree:
    """Candidate phrases (token ids, end-of-sequence included) as a prefix tree of input tokens.

    Node n stands for a proper prefix of some candidate; it feeds ``tokens[n]`` at prompt position
    ``prompt_length + depths[n] - 1`` and attends to the prompt and to the nodes in ``ancestry[n]``
    (itself included). Candidate c's score is the prefill's log-probability of its first token plus,
    for each later token j, the log-probability at node ``score_nodes[c, j]`` of ``score_tokens[c, j]``.
    """

    def __init__(self, rows: List[List[int]], device: torch.device):
        index: Dict[Tuple[int, ...], int] = {}
        tokens, depths, parents = [], [], []
        score_nodes, score_tokens = [], []
        for row in rows:
            nodes = []
            for j in range(1, len(row)):
                prefix = tuple(row[:j])
                if prefix not in index:
                    index[prefix] = len(tokens)
                    tokens.append(row[j - 1])
                    depths.append(j)
                    parents.append(index.get(prefix[:-1], -1))
                nodes.append(index[prefix])
            score_nodes.append(nodes)
            score_tokens.append(row[1:])
        count = len(tokens)
        ancestry = torch.zeros(count, count, dtype=torch.bool)
        for node in range(count):
            walk = node
            while walk >= 0:
                ancestry[node, walk] = True
                walk = parents[walk]
        width = max(1, max(len(n) for n in score_nodes))
        with torch.inference_mode(False):  # cached: usable with autograd too (attacks)
            self.tokens = torch.tensor(tokens, dtype=torch.long, device=device)
            self.depths = torch.tensor(depths, dtype=torch.long, device=device)
            self.ancestry = ancestry.to(device)
            self.score_nodes = torch.tensor([n + [0] * (width - len(n)) for n in score_nodes], device=device)
            self.score_tokens = torch.tensor([t + [0] * (width - len(t)) for t in score_tokens], device=device)
            self.score_mask = torch.tensor([[1.0] * len(n) + [0.0] * (width - len(n)) for n in score_nodes],
                                           device=device)
        self.count = count


def load(path: str, params: Dict, device: torch.device) -> "TransformersVLM":
    """The factory's entry point: a model directory with the guard's parameters."""
    return TransformersVLM.from_pretrained(path, device=device, trust_remote_code=params["trust_remote_code"],
                                           dtype=params["dtype"], max_new_tokens=params["max_new_tokens"])


class TransformersVLM(Policy):
    """A transformers VLM behind the :class:`~rs_vla_guard.policies.base.Policy` protocol."""

    modes = ("score", "generate")
    differentiable = True
    quantized_modules = ("model",)  # int8 on CPUs without native bfloat16 (guard.precision)

    def __init__(self, model, processor, *, device: torch.device, model_id: str, max_new_tokens: int = 8,
                 autocast_dtype: Optional[torch.dtype] = None):
        self.model = model
        self.autocast_dtype = autocast_dtype
        self.processor = processor
        self.device = device
        self.model_id = model_id
        self.max_new_tokens = max_new_tokens
        self.tokenizer = processor.tokenizer
        image_processor = processor.image_processor
        if hasattr(image_processor, "do_image_splitting"):
            # One view per image: the certified radius is over that view's pixels.
            image_processor.do_image_splitting = False
        self._dtype = next(model.parameters()).dtype
        self._normalise = PixelNormaliser(image_processor, device, self._dtype)
        self._prepared: Dict[str, _Prepared] = {}
        self._candidates: Dict[Tuple[str, ...], Tuple[torch.Tensor, torch.Tensor]] = {}
        self._trees: Dict[Tuple[str, ...], _CandidateTree] = {}
        self._tree_checked: Dict[Tuple[str, ...], bool] = {}  # phrase set -> the tree layout is exact here
        probe = self._prepare("probe")
        self.input_size = tuple(int(s) for s in probe.pixel_shape[-2:])

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_pretrained(
        cls, path: str, *, device: torch.device, trust_remote_code: bool = False, dtype: str = "auto",
        max_new_tokens: int = 8, **extra,
    ) -> "TransformersVLM":
        """The model and processor of a local directory; ``extra``: a subclass's own constructor arguments."""
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if not os.path.isdir(path):
            raise PolicyError(f"policy directory not found: {path}")
        if not any(name.endswith(".safetensors") for name in os.listdir(path)):
            raise PolicyError(f"no .safetensors weights in {path} (only safetensors are loaded)")
        torch_dtype = resolve_dtype(dtype, device)
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
                   max_new_tokens=max_new_tokens, autocast_dtype=autocast_dtype(dtype, device), **extra)

    def _precision(self):
        """Mixed precision for every forward (CUDA by default; see :func:`~.hf_common.autocast_dtype`)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

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
        size = processor_size(self.processor.image_processor)
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
            # labels: training targets some processors add (PaliGemma's); the model would compute a loss
            static = {k: v.to(self.device).clone() for k, v in inputs.items()
                      if k not in ("pixel_values", "labels") and torch.is_tensor(v)}
        prepared = _Prepared(static, pixel_shape)
        self._cache_prefix(prepared, inputs["pixel_values"])
        if len(self._prepared) > 32:  # instructions change rarely; keep the cache small
            self._prepared.clear()
        self._prepared[instruction] = prepared
        return prepared

    def _full_precision(self) -> bool:
        return self._dtype == torch.float32 and self.autocast_dtype is None

    def _cache_prefix(self, prepared: _Prepared, probe_pixels: torch.Tensor) -> None:
        """Keys and values of the prompt text before the first image token, computed once per instruction
        and kept only if a prefill from them gives the full prefill's next-token distribution on the
        placeholder image (models that derive positions from the whole prompt, e.g. multimodal RoPE,
        would not)."""
        image_token = getattr(self.model.config, "image_token_id", None)
        if image_token is None:
            image_token = getattr(self.model.config, "image_token_index", None)
        ids = prepared.static["input_ids"][0]
        positions = (ids == image_token).nonzero() if image_token is not None else ids[:0]
        if len(positions) == 0 or int(positions[0]) == 0:
            return
        length = int(positions[0])
        with torch.inference_mode(False), torch.no_grad(), self._precision():  # usable by autograd callers too
            mask = prepared.static.get("attention_mask")
            out = self.model(input_ids=prepared.static["input_ids"][:, :length], use_cache=True, logits_to_keep=1,
                             attention_mask=mask[:, :length] if mask is not None else None)
        layers = getattr(out.past_key_values, "layers", None)
        if not layers or any(getattr(layer, "keys", None) is None for layer in layers):
            return  # a cache layout this adapter does not know: prefill the whole prompt instead
        prepared.prefix_kv = [(layer.keys, layer.values) for layer in layers]
        prepared.prefix_length = length
        try:
            with torch.no_grad(), self._precision():
                pixel_values = probe_pixels.to(self.device, self._dtype)
                full = self.model(**prepared.expanded(1), pixel_values=pixel_values, logits_to_keep=1).logits
                cached = self.model(**prepared.after_prefix(1, self.model.config), pixel_values=pixel_values,
                                    logits_to_keep=1).logits
            difference = float((full[:, -1].float().softmax(-1) - cached[:, -1].float().softmax(-1)).abs().max())
        except Exception:  # a model that cannot continue from a text-only cache
            difference = float("inf")
        if difference > (1e-4 if self._full_precision() else 1e-2):
            prepared.prefix_kv, prepared.prefix_length = None, 0

    def _pixel_values(self, pixels: torch.Tensor, prepared: _Prepared) -> torch.Tensor:
        return self._normalise(pixels).view(pixels.shape[0], *prepared.pixel_shape[1:])

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
            rows = [[int(t) for t, keep in zip(r, m) if keep] for r, m in zip(ids.tolist(), mask.tolist())]
            self._trees[key] = _CandidateTree(rows, self.device)
        return self._candidates[key]

    # ------------------------------------------------------------------ modes

    @torch.inference_mode()
    def score(self, pixels: torch.Tensor, instruction: str, phrases: Sequence[str]) -> torch.Tensor:
        """B x C summed log-probabilities of each phrase (plus end-of-sequence) after the prompt."""
        return self.log_likelihoods(pixels, instruction, phrases)

    def log_likelihoods(self, pixels: torch.Tensor, instruction: str, phrases: Sequence[str]) -> torch.Tensor:
        """:meth:`score` with autograd left on (for attacks and tests); callers choose the grad mode."""
        with self._precision():
            return self._log_likelihoods(pixels, instruction, phrases)

    def _log_likelihoods(self, pixels: torch.Tensor, instruction: str, phrases: Sequence[str]) -> torch.Tensor:
        prepared = self._prepare(instruction)
        candidates, mask = self._candidate_ids(phrases)
        key = tuple(phrases)
        checked = self._tree_checked.get(key)
        if checked and candidates.shape[1] > 1:
            return self._score_tree(pixels, prepared, candidates, key)
        batch = pixels.shape[0]
        out = self.model(
            **prepared.after_prefix(batch, self.model.config), pixel_values=self._pixel_values(pixels, prepared),
            use_cache=True, logits_to_keep=1,
        )
        first = out.logits[:, -1].float().log_softmax(-1)[:, candidates[:, 0]]
        if candidates.shape[1] == 1:
            return first
        plain = self._continue_plain(out.past_key_values, first, candidates, mask, prepared, batch)
        if checked is None:
            # Once per phrase set: the tree layout must reproduce the plain one on this model, or is not used.
            try:
                with torch.no_grad():
                    treed = self._score_tree(pixels, prepared, candidates, key)
                difference = float((plain.detach() - treed).abs().max())
            except Exception:  # e.g. an attention implementation that refuses custom 4D masks
                difference = float("inf")
            # int8 layers quantize each batch's activations by that batch's range: the tree and plain layouts
            # differ as little as under autocast, not as little as in float32
            tolerance = 1e-3 if self._full_precision() and self.precision != "int8" else 5e-2
            self._tree_checked[key] = difference <= tolerance * (1.0 + float(plain.detach().abs().max()))
        return plain

    def _score_tree(self, pixels: torch.Tensor, prepared: _Prepared, candidates: torch.Tensor,
                    key: Tuple[str, ...]) -> torch.Tensor:
        """One forward per batch: the prompt after the cached prefix, then the candidates' later tokens
        as a prefix tree, under a 4D mask (causal over the prompt, ancestors-only inside the tree)."""
        batch, tree = pixels.shape[0], self._trees[key]
        if key not in prepared.tree_layouts:
            with torch.inference_mode(False):  # cached: usable with autograd too (attacks)
                prepared.tree_layouts[key] = self._tree_layout(prepared, tree)
        input_ids, attention, positions = prepared.tree_layouts[key]
        inputs = prepared.after_prefix(batch, self.model.config)
        inputs.update(input_ids=input_ids.expand(batch, -1), attention_mask=attention.expand(batch, -1, -1, -1),
                      position_ids=positions.expand(batch, -1))
        logits = self.model(**inputs, pixel_values=self._pixel_values(pixels, prepared), use_cache=False,
                            logits_to_keep=tree.count + 1).logits.float().log_softmax(-1)  # last prompt token + nodes
        first = logits[:, 0, candidates[:, 0]]
        later = logits[:, 1:][:, tree.score_nodes, tree.score_tokens]  # B x C x later tokens
        return first + (later * tree.score_mask).sum(-1)

    def _tree_layout(self, prepared: _Prepared, tree: _CandidateTree):
        """Input ids, 4D additive mask and positions of prompt-after-prefix + tree (once per instruction and
        phrase set, not per batch)."""
        start, length, nodes = prepared.prefix_length, prepared.prompt_length, tree.count
        input_ids = torch.cat([prepared.static["input_ids"][:, start:], tree.tokens[None]], 1)
        allowed = torch.zeros(length - start + nodes, length + nodes, dtype=torch.bool, device=self.device)
        keys = torch.arange(length, device=self.device)
        allowed[: length - start, :length] = keys[None, :] <= (start + keys[: length - start])[:, None]
        allowed[length - start:, :length] = True
        allowed[length - start:, length:] = tree.ancestry
        prompt_mask = prepared.static.get("attention_mask")
        if prompt_mask is not None:  # padding in the prompt, if a processor adds any, stays masked
            allowed[:, :length] &= prompt_mask[0].bool()
        compute_dtype = self.autocast_dtype or self._dtype  # sdpa wants the mask in the queries' dtype
        attention = torch.where(allowed, 0.0, torch.finfo(compute_dtype).min).to(compute_dtype)[None, None]
        positions = torch.cat([keys[start:], length - 1 + tree.depths])[None]
        return input_ids, attention, positions

    def _continue_plain(self, cache, first: torch.Tensor, candidates: torch.Tensor, mask: torch.Tensor,
                        prepared: _Prepared, batch: int) -> torch.Tensor:
        """The KV cache repeated once per candidate, each candidate's later tokens in its own row."""
        count = candidates.shape[0]
        cache.batch_repeat_interleave(count)  # row b * C + c continues image b with candidate c
        follow = candidates[:, :-1].repeat(batch, 1)
        attention = torch.ones(batch * count, prepared.prompt_length + follow.shape[1], device=self.device,
                               dtype=torch.long)
        logits = self.model(input_ids=follow, past_key_values=cache, attention_mask=attention).logits
        token_logp = logits.float().log_softmax(-1).gather(-1, candidates[:, 1:].repeat(batch, 1).unsqueeze(-1))
        return first + (token_logp.squeeze(-1) * mask[:, 1:].repeat(batch, 1)).sum(-1).view(batch, count)

    @torch.inference_mode()
    def generate(self, pixels: torch.Tensor, instruction: str) -> List[str]:
        """Greedy decoding, up to ``max_new_tokens`` new tokens per noisy image."""
        prepared = self._prepare(instruction)
        with self._precision():
            out = self.model.generate(
                **prepared.expanded(pixels.shape[0]), pixel_values=self._pixel_values(pixels, prepared),
                max_new_tokens=self.max_new_tokens, do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None
                else self.tokenizer.eos_token_id,
            )
        return self.tokenizer.batch_decode(out[:, prepared.prompt_length:], skip_special_tokens=True)

    def clear_caches(self) -> None:
        # prompt prefixes' keys and values, and the layout check, made with the weights of the time
        self._prepared.clear()
        self._tree_checked.clear()

    def release(self) -> None:
        """Drop the model and free device memory (lifecycle cleanup)."""
        self.model = None
        self._prepared.clear()
        self._candidates.clear()
        self._trees.clear()
        self._tree_checked.clear()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
