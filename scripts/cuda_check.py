"""The CUDA path measured on a GPU: warm-up at configure, recovery after a slow spell, the budget per
built-in policy, and the decision rate at the default settings. Not part of ``make test`` (CI has no GPU);
docs/performance.md quotes its output, marked with the GPU it ran on.

    python scripts/cuda_check.py [--device cuda] > cuda_check.json

Per built-in policy: the time ``Guard.from_config`` takes (model load, sensitivity check, warm-up), the first
(cold) and the steady batch time the warm-up measured, and the budget (DESIGN 2.11) at the policy's defaults.
Recovery: the built-in VLM's forwards are made 0.7 s slow for two decisions against a 0.5 s deadline, then
fast again; the figure is how many of the next 10 decisions on a clear scene certify, and whether the first
one does. Rate: decisions per second over clear and border scenes with no deadline.
"""
import argparse
import json
import platform
import sys
import time

import torch

from rs_vla_guard.guard import Guard
from rs_vla_guard.tasks import blocks
from rs_vla_guard.tools.arguments import with_builtin_parameters

POLICIES = ("builtin", "builtin-pi0", "builtin-arm", "builtin-tokens", "builtin-clip")


def cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(line for line in f if line.startswith("flags")).split()
        return " ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags)
    except (OSError, StopIteration):
        return "unknown"


def configure(policy: str, device: str) -> dict:
    start = time.perf_counter()
    guard = Guard.from_config(with_builtin_parameters({"policy": policy, "device": device}))
    configure_s = time.perf_counter() - start
    budget = guard.budget()
    return {"configure_s": round(configure_s, 2), "weights": str(next(guard.policy.model.parameters()).dtype).replace("torch.", ""),
            "autocast": str(getattr(guard.policy, "autocast_dtype", None)).replace("torch.", ""),
            "first_batch_ms": round(guard.warmup["first_batch_s"] * 1e3, 2),
            "batch_ms": round(guard.warmup["batch_seconds"] * 1e3, 2), "batch_size": guard.batch_size,
            "budget": budget.as_dict(), "budget_reason": budget.reason()}


class SlowThenFast:
    """The policy's score, slowed by ``seconds`` per forward while ``slow`` is set (the spell)."""

    def __init__(self, score, seconds):
        self.score, self.seconds, self.slow = score, seconds, False

    def __call__(self, *args, **kwargs):
        if self.slow:
            time.sleep(self.seconds)
        return self.score(*args, **kwargs)


def recovery(device: str) -> dict:
    guard = Guard.from_config({"device": device, "batch_size": 16})
    slow = SlowThenFast(guard.policy.score, 0.7)
    guard.policy.score = slow
    frame = blocks.render(blocks.Scene([blocks.Block("red", 0.15, 0.2)]))
    slow.slow = True
    spell = [guard.decide(frame, "go to the red block", deadline_s=0.5) for _ in range(2)]
    estimate_after_spell = guard.batch_time.seconds
    slow.slow = False
    fast = [guard.decide(frame, "go to the red block", deadline_s=0.5) for _ in range(10)]
    return {"spell_reasons": [d.reason for d in spell], "estimate_after_spell_s": round(estimate_after_spell, 3),
            "fast_certified": sum(d.certified and d.action == "turn_left" for d in fast),
            "first_fast_certified": bool(fast[0].certified),
            "estimate_after_recovery_ms": round(guard.batch_time.seconds * 1e3, 2)}


def rate(device: str, decisions: int = 60) -> dict:
    guard = Guard.from_config({"device": device})
    scenes = [blocks.render(blocks.Scene([blocks.Block("red", x, 0.2)])) for x in (0.15, 0.5, 0.85)]
    latencies = []
    certified = 0
    for i in range(decisions):
        start = time.perf_counter()
        decision = guard.decide(scenes[i % 3], "go to the red block")
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        latencies.append(time.perf_counter() - start)
        certified += decision.certified
    latencies.sort()
    return {"decisions_per_second": round(decisions / sum(latencies), 1),
            "p50_ms": round(latencies[len(latencies) // 2] * 1e3, 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1e3, 1),
            "certified_share": round(certified / decisions, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    report = {"torch": torch.__version__, "python": platform.python_version(), "cpu_flags": cpu_flags(),
              "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "policies": {}}
    for policy in POLICIES:
        try:
            report["policies"][policy] = configure(policy, args.device)
        except Exception as error:  # report every policy, even when one cannot run on this stack
            report["policies"][policy] = {"error": f"{type(error).__name__}: {error}"[:300]}
        print(policy, json.dumps(report["policies"][policy])[:200], file=sys.stderr, flush=True)
    report["recovery"] = recovery(args.device)
    report["rate"] = rate(args.device)
    json.dump(report, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
