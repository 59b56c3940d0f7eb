"""What the policy's forwards compute in on a CPU without native bfloat16 (``dtype: auto``): int8 dynamic
quantization of its Linear layers when it agrees with float32 on at least :data:`AGREEMENT` of the labels of
noisy probe frames (seeded: the same verdict on every run); float32 otherwise. bfloat16 autocast (CPUs that
compute it natively, CUDA) and explicit dtypes are left as loaded.

The verdict depends on the labels only, never on timing: a guard on a busy machine must decide as the same
guard on an idle one (a replay must reproduce the robot's decisions). The speed-up is measured and reported
beside it (``speedup``; ``bench`` reports ``dtype_speedup``); where int8 is not faster, set ``dtype:
float32``. The check runs once per model, batch size and mode in a process, at configure, never in a decision.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Tuple

import numpy as np
import torch

from ..policies.base import PolicyError
from ..sampling import make_generator

AGREEMENT = 0.995  # labels of noisy probe frames int8 must share with float32
NOISY_BATCHES = 2  # noisy batches per probe instruction for the agreement
TIMED_RUNS = 3  # interleaved timings of each precision, best kept

_VERDICTS: Dict[Tuple[Any, ...], Dict[str, Any]] = {}


def choose_precision(guard) -> Dict[str, Any]:
    """Apply the precision rule to ``guard``'s policy; returns the report ``{precision, why, ...}``."""
    p, policy = guard.params, guard.policy
    loaded = str(getattr(policy, "autocast_dtype", None) or "float32").replace("torch.", "")
    if getattr(policy, "precision", "") == "int8":  # another guard over the same policy quantized it
        return {"precision": "int8", "why": "the policy's Linear layers are int8 already (an earlier guard's choice)"}
    if p["dtype"] == "int8":
        if policy.device.type != "cpu" or not policy.quantized_modules:
            raise PolicyError(f"dtype int8 quantizes a CPU policy's Linear layers; {policy.model_id} on "
                              f"{policy.device} has none to quantize")
        policy.quantize_int8()
        return {"precision": "int8", "why": "dtype int8 (unchecked against float32)"}
    if p["dtype"] != "auto":
        return {"precision": loaded, "why": f"dtype {p['dtype']}"}
    if policy.device.type != "cpu" or loaded != "float32":
        return {"precision": loaded, "why": "dtype auto: " + ("bfloat16 autocast, this CPU computes it natively"
                                                              if policy.device.type == "cpu" else "the device's")}
    if not policy.quantized_modules or p["torch_compile"] != "off":
        return {"precision": "float32", "why": "dtype auto on a CPU without native bfloat16; int8 not tried ("
                + ("the policy declares no quantizable modules)" if not policy.quantized_modules
                   else "torch_compile is on)")}
    key = (policy.model_id, guard.batch_size, guard.mode)
    verdict = _VERDICTS.get(key)
    if verdict is None:
        verdict = _VERDICTS[key] = _measure(guard)
    elif verdict["precision"] == "int8":
        policy.quantize_int8()
    return dict(verdict)


def _measure(guard) -> Dict[str, Any]:
    """Quantize, compare labels and speed with float32 on noisy probe batches, keep int8 or undo."""
    probes = guard.probes()
    clean = torch.from_numpy(np.stack([guard.probe_input(f) for f in probes.frames])).to(guard.policy.device)
    generator = make_generator(guard.policy.device, 1)
    batches = []
    for _ in range(NOISY_BATCHES):
        rows = clean[torch.arange(guard.batch_size, device=clean.device) % clean.shape[0]]
        batches.append(rows + guard.params["sigma"] * torch.randn(rows.shape, generator=generator, dtype=rows.dtype))
    instructions = list(dict.fromkeys(text.strip() for text in probes.instructions))

    def labels() -> torch.Tensor:
        return torch.cat([guard._fixed_labels(b, text) for text in instructions for b in batches])

    def batch_seconds() -> float:
        started = time.perf_counter()
        guard._fixed_labels(batches[0], instructions[0])
        return time.perf_counter() - started

    reference = labels()
    try:
        undo = guard.policy.quantize_int8()
    except PolicyError as error:
        return {"precision": "float32", "why": f"dtype auto on a CPU without native bfloat16; int8 failed: {error}"}
    quantized = labels()
    float_s, int8_s = [], []
    for _ in range(TIMED_RUNS):  # interleaved: a load spike hits both alike
        int8_s.append(batch_seconds())
        undo()
        float_s.append(batch_seconds())
        undo = guard.policy.quantize_int8()
    agreement = float((reference == quantized).float().mean())
    speedup = min(float_s) / min(int8_s)
    keep = agreement >= AGREEMENT
    if not keep:
        undo()
    figures = f"label agreement with float32 {agreement:.4f} (>= {AGREEMENT} needed) on {len(reference)} noisy " \
              f"probe labels; speed-up measured {speedup:.2f}x"
    return {"precision": "int8" if keep else "float32", "label_agreement": round(agreement, 4),
            "speedup": round(speedup, 3),
            "why": f"dtype auto on a CPU without native bfloat16: int8 {'kept' if keep else 'refused'}: {figures}"}
