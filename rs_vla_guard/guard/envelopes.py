"""Certified envelopes of continuous commands (percentile smoothing, docs/theory.md, section 7) and what a certified
label executes. A part of :class:`~.guard.Guard`."""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .. import actions as A
from .. import certification
from ..sampling import NoisySampler


class EnvelopeMixin:
    """Envelopes, their verdict under ``certify_target``, and the executed command."""

    def _envelope_problems(self, params: Dict[str, Any], limits: Dict[str, float]) -> List[str]:
        """Envelope settings this guard's policy cannot honour (a phrase policy, an unknown dimension)."""
        if self.mode != "action":
            if params["certify_target"] != "class":
                return [f"certify_target: {params['certify_target']} needs a continuous-action policy "
                        f"({self.policy.model_id} is in {self.mode} mode)"]
            return []
        unknown = [name for name in limits if name not in self.dimensions]
        return [f"envelope_limits: {', '.join(unknown)} not among the policy's action dimensions "
                f"{self.dimensions}"] if unknown else []

    def _envelope_verdict(self, certificate, label: Optional[str], envelopes, median_vector):
        """(certified, reason, label) under ``certify_target`` once envelopes exist.

        ``class``: the class certificate decides (envelopes only bound the executed median). ``envelope``:
        every limited dimension's envelope is at most its limit wide; the label is the median command's own
        class. ``both``: the class is certified, the envelopes are narrow enough, and the median command
        lies in the certified action's class (else the two promises cannot both hold for what executes)."""
        target = self.params["certify_target"]
        if target == "class":
            return certificate.certified, certificate.reason, label
        widths = {envelope.name: envelope.width for envelope in envelopes}
        narrow = all(widths[name] <= limit for name, limit in self.envelope_limits.items())
        index = int(self.oracle(np.asarray([median_vector], dtype=np.float64))[0])
        own = self.actions[index] if index >= 0 else None
        if target == "envelope":
            if narrow and own is not None:
                return True, A.CERTIFIED, own
            return False, A.ENVELOPE_TOO_WIDE, label
        if not certificate.certified:
            return False, certificate.reason, label
        if narrow and own is not None and own in A.members_of(self.params, label):
            return True, A.CERTIFIED, label
        return False, A.ENVELOPE_TOO_WIDE, label

    def _envelope_records(self, envelopes) -> Tuple[Dict[str, Any], ...]:
        if not envelopes:
            return ()
        return tuple({"name": e.name, "low": e.low, "high": e.high, "median": e.median, "width": e.width,
                      "limit": self.envelope_limits.get(e.name, float("inf")), "radius": e.radius,
                      "samples": self.params["envelope_samples"]} for e in envelopes)

    def _envelopes(self, sampler: NoisySampler, vectors: List[torch.Tensor],
                   out_of_time: Optional[Callable[[], bool]], hypotheses: int
                   ) -> Optional[List[certification.Envelope]]:
        """Each action dimension's certified envelope at ``radius_threshold`` from the first
        ``envelope_samples`` noisy actions of the decision (drawing the rest when the class test stopped
        sooner): a count fixed in advance, so the order-statistic bounds hold whatever the class test did.
        None when the deadline comes first."""
        p = self.params
        samples = self._fixed_count(sampler, vectors, p["envelope_samples"], out_of_time)
        if samples is None:
            return None
        return certification.certify_envelopes(samples, p["radius_threshold"], p["sigma"], p["alpha"],
                                               names=self.dimensions, hypotheses=hypotheses - len(self.dimensions))

    def _fixed_count(self, sampler: NoisySampler, records: List[torch.Tensor], needed: int,
                     out_of_time: Optional[Callable[[], bool]]) -> Optional[np.ndarray]:
        """The decision's first ``needed`` recorded outputs (float64), drawing batches on when the class test
        stopped sooner: a count fixed in advance keeps order-statistic bounds valid whatever the test did.
        None when the deadline comes first."""
        have = sum(int(rows.shape[0]) for rows in records)
        while have < needed:
            if out_of_time is not None and out_of_time():
                return None
            size = min(self.batch_size, needed - have)
            sampler(size)
            have += size
        return torch.cat(records)[:needed].to("cpu", torch.float64).numpy()

    def _command(self, label: str, clean_vector: Optional[Sequence[float]],
                 median_vector: Optional[Sequence[float]] = None):
        """(twist, vector) a certified ``label`` (an action or a fallback set) executes.

        ``continuous_command: table``, and every phrase policy: the label's entry of the action table (a set:
        the mean of its members'). ``clean`` (continuous policies): the policy's own action on the clean
        frame, moved into the bin of its class when that class is the label or one of the set's members (so
        an attacker inside the radius changes neither the class nor pushes past the bin), else the table.
        ``median``: the per-dimension median of the noisy actions, clamped into its certified envelope, when
        its class is one the label stands for (always so under ``certify_target`` envelope or both), else the
        table; then the speed caps."""
        p = self.params
        if self.mode != "action":
            return A.twist_of(p, label), ()
        dimensions, arm = self.oracle.dimensions, p["binning"] == "arm"
        vector = None
        if p["continuous_command"] == "clean" and clean_vector is not None:
            index = int(self.oracle(np.asarray([clean_vector], dtype=np.float64))[0])
            own = self.actions[index] if index >= 0 else None
            if own is not None and own in A.members_of(p, label):
                vector = self.oracle.clamp(clean_vector, own)
        elif p["continuous_command"] == "median" and median_vector is not None:
            index = int(self.oracle(np.asarray([median_vector], dtype=np.float64))[0])
            if index >= 0 and self.actions[index] in A.members_of(p, label):
                vector = list(median_vector)
        if arm:
            vector = A.capped_vector(p, vector if vector is not None else A.vector_of(p, label, dimensions), dimensions)
            return (0.0, 0.0), vector
        if vector is None:
            twist = A.twist_of(p, label)
            vector = [0.0] * len(dimensions)
            vector[self.oracle.index["linear_x"]], vector[self.oracle.index["angular_z"]] = twist
        twist = A.capped(p, vector[self.oracle.index["linear_x"]], vector[self.oracle.index["angular_z"]])
        vector = list(vector)
        vector[self.oracle.index["linear_x"]], vector[self.oracle.index["angular_z"]] = twist
        return twist, tuple(float(v) for v in vector)
