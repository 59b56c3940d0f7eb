"""A policy wrapper that misbehaves on request (fault injection for the guard, the node and the fuzz suite).

Faults, as strings (``FaultyPolicy.fault``):

- ``none``: behave;
- ``raise:NAME``: every forward raises the builtin exception NAME (``RuntimeError``, ``SystemExit``,
  ``KeyboardInterrupt``, ``MemoryError``, ...);
- ``once:NAME``: the next forward raises NAME, then behave;
- ``hang:SECONDS``: every forward sleeps that long first;
- ``nan`` / ``inf``: every score is NaN / +infinity;
- ``shape``: scores of the wrong shape (one row short).
"""
import builtins
import threading
import time

import torch

from rs_vla_guard.policies.base import Policy

class FaultyPolicy(Policy):
    """Delegates to the real policy, except for the fault currently asked for."""

    FAULTS = ("none", "raise:NAME", "once:NAME", "hang:SECONDS", "nan", "inf", "shape")

    def __init__(self, inner: Policy):
        self.inner = inner
        self.model_id, self.device, self.input_size = inner.model_id, inner.device, inner.input_size
        self.modes, self.differentiable, self.probes = inner.modes, inner.differentiable, inner.probes
        self.fault = "none"
        self._lock = threading.Lock()

    def _before(self) -> str:
        with self._lock:
            fault = self.fault
            if fault.startswith("once:"):
                self.fault = "none"
        kind, _, argument = fault.partition(":")
        if kind in ("raise", "once"):
            raise getattr(builtins, argument)(f"injected {argument}")
        if kind == "hang":
            time.sleep(float(argument))
        return kind

    def score(self, pixels, instruction, phrases):
        kind = self._before()
        scores = self.inner.score(pixels, instruction, phrases)
        if kind in ("nan", "inf"):
            return torch.full_like(scores, float(kind))
        if kind == "shape":
            return scores[:-1]
        return scores

    def generate(self, pixels, instruction):
        self._before()
        return self.inner.generate(pixels, instruction)

    def release(self):
        self.inner.release()
