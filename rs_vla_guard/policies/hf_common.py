"""What the Hugging Face adapters share: model fingerprints, pixel normalisation, the processor's image size,
and precision (weights dtype, autocast, int8 dynamic quantization of Linear layers)."""
from __future__ import annotations

import hashlib
import os
from typing import Optional

import torch

from .base import PolicyError

DTYPES = ("auto", "float32", "bfloat16", "float16", "int8")


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


class PixelNormaliser:
    """[0, 1] pixels -> the model's pixel values, ``(x - mean) / std`` per channel with the image processor's
    statistics, on the device. The adapters and the built-in policies' training share it, so both feed the
    model the same numbers."""

    def __init__(self, image_processor, device: torch.device, dtype: torch.dtype = torch.float32):
        mean = getattr(image_processor, "image_mean", None) or [0.5, 0.5, 0.5]
        std = getattr(image_processor, "image_std", None) or [0.5, 0.5, 0.5]
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.dtype = dtype

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        return ((pixels - self.mean) / self.std).to(self.dtype)


def processor_size(image_processor) -> int:
    """The image side an image processor resizes to (a dict or transformers' SizeDict), else 224."""
    size = getattr(image_processor, "size", None)
    if isinstance(size, int):
        return size
    for key in ("height", "longest_edge", "shortest_edge", "width"):
        value = size.get(key) if isinstance(size, dict) else getattr(size, key, None)
        if value:
            return int(value)
    return 224


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """The dtype to load weights in: ``auto`` is bfloat16 on CUDA (float16 where unsupported) and float32 on
    a CPU (autocast, or int8 quantization after loading, does the rest); ``int8`` loads float32."""
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    choices = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "int8": torch.float32}
    if dtype not in choices:
        raise PolicyError(f"unknown dtype {dtype!r}; choose {', '.join(DTYPES)}")
    return choices[dtype]


def cpu_has_bf16() -> bool:
    """Does this CPU compute bfloat16 natively (AVX512-BF16 or AMX)? Elsewhere bfloat16 is emulated and slower.

    ``RS_VLA_GUARD_CPU_BF16=0`` answers no on any CPU (to measure what a CPU without it gets)."""
    if os.environ.get("RS_VLA_GUARD_CPU_BF16", "").strip() == "0":
        return False
    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(check()) for check in checks if check is not None)


def autocast_dtype(dtype: str, device: torch.device, bf16_supported: Optional[bool] = None) -> Optional[torch.dtype]:
    """The autocast dtype for forwards. ``float32`` and ``int8``: none. ``auto``: bfloat16 on CUDA (float16
    where bfloat16 is unsupported) and on a CPU that computes bfloat16 natively (1.3-1.5x per sample on
    AVX512-BF16, with labels agreeing with float32's; ``bench`` reports the agreement), none on other CPUs
    (there the guard tries int8, :meth:`~.base.Policy.quantize_int8`). ``bfloat16`` / ``float16``: that dtype."""
    if dtype in ("float32", "int8"):
        return None
    if dtype in ("bfloat16", "float16"):
        return torch.bfloat16 if dtype == "bfloat16" else torch.float16
    if device.type != "cuda":
        return torch.bfloat16 if (cpu_has_bf16() if bf16_supported is None else bf16_supported) else None
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_bf16_supported()
    return torch.bfloat16 if bf16_supported else torch.float16
