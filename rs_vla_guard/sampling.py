"""Noisy sampling on the device: the smoothed classifier's Monte Carlo half.

A frame is converted once to the policy's input (float pixels in [0, 1] at the policy's resolution,
the space the certified radius lives in). Every noisy copy is made on the device from a seeded
``torch.Generator``, in batches, and the base classifier f = oracle o policy labels a whole batch at
once: there is no per-sample Python loop.
"""
from __future__ import annotations

import math
import os
from typing import Callable, Optional, Tuple

import numpy as np
import torch

from .certification.extent import FOLDED_GAUSSIAN, UNIFORM

# f: a batch of [0,1] pixel tensors (B x 3 x H x W, on the device) -> class indices (B,), -1 = unmapped.
BatchClassifier = Callable[[torch.Tensor], torch.Tensor]


def frame_to_input(frame_rgb: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """HxWx3 uint8 RGB frame -> 3 x h x w float32 in [0, 1] at ``size`` = (h, w), by area resampling.

    Raises ValueError for anything that is not a non-empty HxWx3 uint8 array.
    """
    import cv2

    frame = np.asarray(frame_rgb)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"frame must be HxWx3, got shape {frame.shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8, got {frame.dtype}")
    height, width = size
    if frame.shape[:2] != (height, width):
        interpolation = cv2.INTER_AREA if frame.shape[0] >= height and frame.shape[1] >= width else cv2.INTER_LINEAR
        # A decoded message is a view of its buffer: resample the pixels as stored (BGR, grey) and reorder the
        # small result, instead of copying a large frame into RGB order first.
        if frame.strides[2] < 0:
            frame = cv2.resize(_row_major(frame[:, :, ::-1]), (width, height), interpolation=interpolation)[:, :, ::-1]
        elif frame.strides[2] == 0:
            grey = cv2.resize(_row_major(frame[:, :, 0]), (width, height), interpolation=interpolation)
            frame = np.repeat(grey[:, :, None], 3, axis=2)
        else:
            frame = cv2.resize(_row_major(frame), (width, height), interpolation=interpolation)
    return np.ascontiguousarray(frame.transpose(2, 0, 1), dtype=np.float32) / 255.0


def _row_major(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` (H x W or H x W x C) as OpenCV takes them: contiguous pixels within each row, rows at any
    positive stride (row padding is fine); a copy only when that is not already so."""
    channels = pixels.shape[2] if pixels.ndim == 3 else 1
    row_major = (pixels.strides[1] == pixels.itemsize * channels
                 and (pixels.ndim == 2 or pixels.strides[2] == pixels.itemsize)
                 and pixels.strides[0] >= pixels.strides[1] * pixels.shape[1])
    return pixels if row_major else np.ascontiguousarray(pixels)


def automatic_torch_threads() -> int:
    """``torch_threads: 0``: half of the CPU cores this process may use, at least 1. A robot's other nodes
    share the CPU; measured on 2 cores beside two busy loops, 2 threads were 3.5x slower than idle and 1
    thread 1.6x (README, Performance)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


def apply_torch_threads(threads: int) -> int:
    """Set the process's CPU thread count for torch (0: :func:`automatic_torch_threads`); returns the count in
    use. Process-wide: the guard is the process's one model user, as in the node."""
    threads = int(threads) if threads > 0 else automatic_torch_threads()
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def compile_batch_sizes(batch_size: int, first_rows: int) -> Tuple[int, ...]:
    """The batch sizes a compiled policy is warmed at and every batch is padded up to: 16, 24, 32, 48, 64, 96,
    ... below ``batch_size`` (steps of 1.5x and 1.33x, so padding adds at most half the rows), ``batch_size``
    itself, and a decision's first batch, ``first_rows``, exactly (a clear decision pays no padding; with the
    betting test the clean frame rides on top of up to ``batch_size`` noisy rows)."""
    sizes = {batch_size, first_rows}
    size = 16
    while size < batch_size:
        sizes.add(size)
        size = size * 3 // 2 if size & (size - 1) == 0 else size * 4 // 3
    return tuple(sorted(sizes))


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cpu``/``cuda``/``cuda:N`` as given (CUDA must exist)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:  # torch's message lists every device type it knows
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return resolved


class NoisySampler:
    """Draws labels f(x + e), e ~ N(0, sigma^2 I), for one clean input x, batch by batch on the device.

    Calling the sampler with m returns m labels as a numpy int64 array (the certifier's ``sample``).
    The generator belongs to the guard and is seeded once (``seed``), so a sequence of decisions is
    reproducible from its frames, instructions and the seed; callers that need one decision on its own
    reproducible (replay, episodes) reseed the generator before it.
    """

    def __init__(
        self,
        classify: BatchClassifier,
        clean_input: torch.Tensor,
        *,
        sigma: float,
        batch_size: int,
        generator: torch.Generator,
        clip: bool = False,
        include_clean: bool = False,
    ):
        if clean_input.dim() != 3:
            raise ValueError("clean_input must be 3 x H x W")
        self.classify = classify
        self.clean_input = clean_input
        self.sigma = float(sigma)
        self.batch_size = int(batch_size)
        self.generator = generator
        self.clip = clip
        self.drawn = 0
        # With include_clean, the first forward pass also labels the clean input (row 0 of the first batch):
        # the candidate costs no forward pass of its own. Its label is then in ``clean_label``.
        self.clean_pending = bool(include_clean)
        self.clean_label: Optional[int] = None

    def noisy_batch(self, m: int, out: Optional[torch.Tensor] = None) -> torch.Tensor:
        """m noisy copies x + e; written into ``out`` (m x C x H x W) when given, else a new tensor."""
        if out is None:
            out = torch.empty((m,) + tuple(self.clean_input.shape), device=self.clean_input.device,
                              dtype=self.clean_input.dtype)
        out.normal_(0.0, self.sigma, generator=self.generator).add_(self.clean_input)
        return out.clamp_(0.0, 1.0) if self.clip else out

    def __call__(self, m: int) -> np.ndarray:
        labels = []
        remaining = int(m)
        clean = 1 if self.clean_pending and remaining > 0 else 0
        # One buffer for every batch of the call: the classifier has consumed a batch before the next is
        # drawn (on CUDA, in stream order), and reusing it saves an allocation and page faults per batch.
        buffer = torch.empty((min(remaining, self.batch_size) + clean,) + tuple(self.clean_input.shape),
                             device=self.clean_input.device, dtype=self.clean_input.dtype) if remaining > 0 else None
        while remaining > 0:
            size = min(remaining, self.batch_size)
            if clean and not labels:  # the clean input rides in front of the first noisy batch
                buffer[0].copy_(self.clean_input)
                self.noisy_batch(size, out=buffer[1:size + 1])
                labels.append(self.classify(buffer[:size + 1]))
            else:
                labels.append(self.classify(self.noisy_batch(size, out=buffer[:size])))
            remaining -= size
        self.drawn += int(m)
        if not labels:
            return np.zeros(0, np.int64)
        # One host transfer per call: the sequential test needs the counts, nothing more.
        result = torch.cat(labels).to("cpu", torch.int64).numpy()
        if clean:
            self.clean_pending = False
            self.clean_label = None if result[0] < 0 else int(result[0])
            result = result[1:]
        return result


CPU_AUTO_BATCH_SIZE = 64  # a 2-core CPU is saturated well below this; larger batches only add latency


def largest_batch_size(run_batch: Callable[[int], None], *, start: int = 16, limit: int = 4096) -> int:
    """The largest of start, 2*start, 4*start, ... <= ``limit`` for which ``run_batch(size)`` fits in memory.

    ``run_batch`` runs one forward pass of that size; running out of device memory (torch's
    OutOfMemoryError) ends the search. Raises RuntimeError if not even ``start`` fits.
    """
    best = 0
    size = start
    while size <= limit:
        try:
            run_batch(size)
        except torch.OutOfMemoryError:
            break
        finally:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        best = size
        size *= 2
    if best == 0:
        raise RuntimeError(f"not even a batch of {start} noisy images fits in device memory")
    return best


def auto_batch_size(classify: BatchClassifier, input_shape: Tuple[int, ...], device: torch.device,
                    *, limit: int) -> int:
    """Batch size for ``batch_size: 0``: probed once on CUDA (with headroom), a fixed size on CPU."""
    if device.type != "cuda":
        return min(CPU_AUTO_BATCH_SIZE, limit)

    def run_batch(size: int) -> None:
        classify(torch.rand((size,) + tuple(input_shape), device=device))
        torch.cuda.synchronize(device)

    # Keep a quarter of the largest size free for fragmentation and other tenants of the GPU.
    return max(1, largest_batch_size(run_batch, start=8, limit=max(8, limit)) * 3 // 4)


def make_generator(device: torch.device, seed: int) -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator


def predict_clean(classify: BatchClassifier, clean_input: torch.Tensor) -> Optional[int]:
    """f(x) on the clean input: a candidate chosen independently of the noisy estimation samples."""
    label = int(classify(clean_input.unsqueeze(0))[0])
    return None if label < 0 else label


class TransformSampler:
    """Draws labels h(offset + theta) = f(T_{offset + theta}(x)) for one clean input x: the extent
    certificate's samples (:mod:`rs_vla_guard.certification.extent`), theta from the transform's smoothing
    distribution, every transform applied to a whole batch on the device.

    ``offset`` (0 for a certificate) moves the smoothed classifier along the parameter: the brute-force
    sweeps and the ``extent --plot`` curves evaluate G(offset) with it. Transforms are computed from the
    observed frame in one step (never composed), so h is exactly the family the certificate is about."""

    def __init__(self, classify: BatchClassifier, clean_input: torch.Tensor, smoothing, *, batch_size: int,
                 generator: torch.Generator, offset=0.0):
        if clean_input.dim() != 3:
            raise ValueError("clean_input must be 3 x H x W")
        self.classify = classify
        self.clean_input = clean_input
        self.smoothing = smoothing
        self.batch_size = int(batch_size)
        self.generator = generator
        self.offset = torch.as_tensor(offset, dtype=torch.float32, device=clean_input.device).reshape(-1)
        if self.offset.numel() not in (1, smoothing.dimensions):
            raise ValueError(f"{smoothing.transform} takes an offset of {smoothing.dimensions} value(s)")
        self.drawn = 0

    def parameters(self, m: int) -> torch.Tensor:
        """m draws of offset + theta (m x dimensions)."""
        shape = (m, self.smoothing.dimensions)
        device, scale = self.clean_input.device, self.smoothing.scale
        if self.smoothing.distribution == UNIFORM:
            theta = torch.rand(shape, device=device, generator=self.generator).mul_(scale)
        else:
            theta = torch.randn(shape, device=device, generator=self.generator).mul_(scale)
            if self.smoothing.distribution == FOLDED_GAUSSIAN:
                theta.abs_()
        return theta.add_(self.offset)

    def __call__(self, m: int) -> np.ndarray:
        labels = []
        remaining = int(m)
        while remaining > 0:
            size = min(remaining, self.batch_size)
            batch = transform_batch(self.clean_input, self.smoothing.transform, self.parameters(size))
            labels.append(self.classify(batch))
            remaining -= size
        self.drawn += int(m)
        if not labels:
            return np.zeros(0, np.int64)
        return torch.cat(labels).to("cpu", torch.int64).numpy()


def transform_batch(clean_input: torch.Tensor, transform: str, values: torch.Tensor) -> torch.Tensor:
    """B copies of ``clean_input`` (C x H x W), copy i transformed by ``values[i]`` (B x dimensions):
    brightness x + b; contrast x * e^k; blur: a Gaussian kernel of variance v (pixels^2), reflect padding;
    shift: (dx, dy) pixels, bilinear, reflect padding. No clipping, so brightness and contrast compose
    additively in their parameter, as the certificate's reading ("a frame b brighter") assumes."""
    batch = values.shape[0]
    pixels = clean_input.unsqueeze(0)
    values = values.to(clean_input.dtype)
    if transform == "brightness":
        return pixels + values[:, :1, None, None]
    if transform == "contrast":
        return pixels * values[:, :1, None, None].exp()
    if transform == "blur":
        return _gaussian_blur(pixels.expand(batch, -1, -1, -1), values[:, 0].clamp(min=0.0))
    if transform == "shift":
        return _shift(pixels.expand(batch, -1, -1, -1), values[:, :2])
    raise ValueError(f"unknown transform {transform!r}")


def _gaussian_blur(pixels: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with one variance per image (0 = unchanged), kernel to 3 standard deviations."""
    height, width = pixels.shape[-2:]
    half = int(math.ceil(3.0 * math.sqrt(float(variance.max())))) if variance.numel() else 0
    half = min(half, height - 1, width - 1)
    if half == 0:
        return pixels.clone()
    offsets = torch.arange(-half, half + 1, device=pixels.device, dtype=pixels.dtype)
    weights = torch.exp(-offsets[None, :] ** 2 / (2.0 * variance[:, None].clamp(min=1e-12)))
    weights = torch.where(variance[:, None] > 0, weights, (offsets[None, :] == 0).to(pixels.dtype))
    weights = weights / weights.sum(dim=1, keepdim=True)
    out = pixels
    for dim in (3, 2):  # along rows, then columns
        padding = (half, half, 0, 0) if dim == 3 else (0, 0, half, half)
        padded = torch.nn.functional.pad(out, padding, mode="reflect")
        size = out.shape[dim]
        blurred = torch.zeros_like(out)
        for j in range(2 * half + 1):
            blurred += weights[:, j, None, None, None] * padded.narrow(dim, j, size)
        out = blurred
    return out


def _shift(pixels: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Each image moved by (dx, dy) pixels (content moves right/down for positive values), bilinear, with
    the frame reflected at its borders."""
    batch, _, height, width = pixels.shape
    ys = (torch.arange(height, device=pixels.device, dtype=pixels.dtype) + 0.5) * 2.0 / height - 1.0
    xs = (torch.arange(width, device=pixels.device, dtype=pixels.dtype) + 0.5) * 2.0 / width - 1.0
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack((grid_x, grid_y), dim=-1).unsqueeze(0).repeat(batch, 1, 1, 1)
    grid[..., 0] -= (shifts[:, 0] * 2.0 / width)[:, None, None]
    grid[..., 1] -= (shifts[:, 1] * 2.0 / height)[:, None, None]
    return torch.nn.functional.grid_sample(pixels, grid, mode="bilinear", padding_mode="reflection",
                                           align_corners=False)
